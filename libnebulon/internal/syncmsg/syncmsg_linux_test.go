package syncmsg

import (
	"errors"
	"testing"
)

// Messages arrive whole and in order; a closed peer is ErrClosed; Expect names a wrong type.
func TestSendRecvExpect(t *testing.T) {
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	parent, child := NewConn(a), NewConn(b)
	defer parent.Close()
	if err := child.Send(SeccompFd, []byte{7, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if err := child.Send(Ready, nil); err != nil {
		t.Fatal(err)
	}
	typ, payload, err := parent.Recv()
	if err != nil || typ != SeccompFd || len(payload) != 4 || payload[0] != 7 {
		t.Fatalf("got %v %v %v; want seccomp-fd [7 0 0 0]", typ, payload, err)
	}
	if _, err := parent.Expect(HooksDone); err == nil || err.Error() != "sync: got ready, want hooks-done" {
		t.Errorf("Expect of the wrong type: %v", err)
	}
	child.Close()
	if _, _, err := parent.Recv(); !errors.Is(err, ErrClosed) {
		t.Errorf("after the peer closed: %v, want ErrClosed", err)
	}
}
