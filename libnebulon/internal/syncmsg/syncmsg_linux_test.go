package syncmsg

import (
	"errors"
	"os"
	"testing"
)

// A message sent with an fd arrives with a working copy of it; Recv closes an fd nobody asked
// for; a closed peer is ErrClosed.
func TestSendFdRecvFd(t *testing.T) {
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	parent, child := NewConn(a), NewConn(b)
	defer parent.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := child.SendFd(SeccompFd, []byte("x"), int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	w.Close()
	typ, payload, f, err := parent.RecvFd()
	if err != nil || typ != SeccompFd || string(payload) != "x" || f == nil {
		t.Fatalf("got %v %q %v %v; want seccomp-fd \"x\" and an fd", typ, payload, f, err)
	}
	f.WriteString("through the fd")
	f.Close()
	buf := make([]byte, 32)
	if n, _ := r.Read(buf); string(buf[:n]) != "through the fd" {
		t.Errorf("read %q from the pipe", buf[:n])
	}

	if err := child.Send(Ready, nil); err != nil {
		t.Fatal(err)
	}
	if typ, _, f, err := parent.RecvFd(); typ != Ready || f != nil || err != nil {
		t.Errorf("plain message: got %v, fd %v, %v", typ, f, err)
	}
	child.Close()
	if _, _, err := parent.Recv(); !errors.Is(err, ErrClosed) {
		t.Errorf("after the peer closed: %v, want ErrClosed", err)
	}
}
