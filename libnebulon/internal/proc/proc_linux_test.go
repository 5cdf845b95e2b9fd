package proc

import "testing"

func TestParseProcStatCountsFieldsFromTheLastParenthesis(t *testing.T) {
	line := "1234 (we ird) na)me) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100 18446744073709551615\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'S' || st.PPid != 1 || st.StartTime != 987654 {
		t.Fatalf("parseStat = %+v, want state S, ppid 1, start 987654", st)
	}
}

func TestAliveIsFalseForAnotherStartTime(t *testing.T) {
	self, err := ReadStat(1)
	if err != nil {
		t.Skip("no /proc")
	}
	if !Alive(1, self.StartTime) {
		t.Fatal("pid 1 with its own start time is not alive")
	}
	if Alive(1, self.StartTime+1) {
		t.Fatal("pid 1 with another start time counts as alive: pid reuse would go unnoticed")
	}
}
