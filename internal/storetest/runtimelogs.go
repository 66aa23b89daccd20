package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apogee-dev/apogee"
)

func rtLine(i int, instance, text string) apogee.LogLine {
	stream := apogee.StreamStdout
	if i%3 == 0 {
		stream = apogee.StreamStderr
	}
	return apogee.LogLine{Seq: 999, Time: base.Add(time.Duration(i) * time.Second), Stream: stream, Instance: instance, Text: text}
}

func texts(lines []apogee.LogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

func seqs(lines []apogee.LogLine) []int64 {
	out := make([]int64, len(lines))
	for i, l := range lines {
		out[i] = l.Seq
	}
	return out
}

func testRuntimeLogs(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	alice := user(t, s, "alice@example.com")
	api := project(t, s, alice, "api")
	web := project(t, s, alice, "web")

	st, err := s.RuntimeLogStats(ctx, api.ID)
	must(t, err)
	equal(t, "stats of an empty log", st, apogee.RuntimeLogStats{ProjectID: api.ID})

	// 1,200 lines (more than one insert) from two instances.
	var in []apogee.LogLine
	var size int64
	for i := 1; i <= 1200; i++ {
		inst := "instanceaaaa"
		if i%2 == 0 {
			inst = "instancebbbb"
		}
		l := rtLine(i, inst, fmt.Sprintf("line %d ünïcode\tGET /Health", i))
		in = append(in, l)
		size += int64(len(l.Text)) + 1
	}
	got, st, err := s.AppendRuntimeLogs(ctx, api.ID, in[:700])
	must(t, err)
	equal(t, "seqs of the first append", seqs(got)[:3], []int64{1, 2, 3})
	equal(t, "stats after the first append", st.LastSeq, int64(700))
	got, st, err = s.AppendRuntimeLogs(ctx, api.ID, in[700:])
	must(t, err)
	equal(t, "first seq of the second append", got[0].Seq, int64(701))
	equal(t, "stats after the second append", st, apogee.RuntimeLogStats{ProjectID: api.ID, LastSeq: 1200, Lines: 1200, Bytes: size})
	_, _, err = s.AppendRuntimeLogs(ctx, web.ID, in[:5])
	must(t, err)
	_, _, err = s.AppendRuntimeLogs(ctx, "nosuch", in[:1])
	wantCode(t, err, apogee.ENOTFOUND)

	all, err := s.RuntimeLogs(ctx, api.ID, apogee.RuntimeLogQuery{})
	must(t, err)
	want := slices.Clone(in)
	for i := range want {
		want[i].Seq = int64(i + 1)
	}
	equal(t, "all lines", all, want)

	cases := []struct {
		name string
		q    apogee.RuntimeLogQuery
		want []int64
	}{
		{"after and limit", apogee.RuntimeLogQuery{AfterSeq: 1000, Limit: 3}, []int64{1001, 1002, 1003}},
		{"tail", apogee.RuntimeLogQuery{Limit: 3, Tail: true}, []int64{1198, 1199, 1200}},
		{"tail before", apogee.RuntimeLogQuery{BeforeSeq: 10, Limit: 2, Tail: true}, []int64{8, 9}},
		{"since until", apogee.RuntimeLogQuery{Since: base.Add(5 * time.Second), Until: base.Add(8 * time.Second)}, []int64{5, 6, 7}},
		{"instance", apogee.RuntimeLogQuery{Instance: "instanceaaaa", Limit: 3}, []int64{1, 3, 5}},
		{"search folds ASCII case", apogee.RuntimeLogQuery{Search: "LINE 11", Limit: 4}, []int64{11, 110, 111, 112}},
		{"search keeps non-ASCII", apogee.RuntimeLogQuery{Search: "ÜNÏCODE", Limit: 1}, []int64{}},
		{"search non-ASCII", apogee.RuntimeLogQuery{Search: "ünïcode\tget /health", Limit: 1}, []int64{1}},
		{"everything", apogee.RuntimeLogQuery{AfterSeq: 100, BeforeSeq: 200, Instance: "instancebbbb", Search: "line 1", Since: base.Add(150 * time.Second), Limit: 2, Tail: true}, []int64{196, 198}},
		{"nothing", apogee.RuntimeLogQuery{Instance: "nosuch"}, []int64{}},
	}
	for _, c := range cases {
		got, err := s.RuntimeLogs(ctx, api.ID, c.q)
		must(t, err)
		equal(t, c.name, seqs(got), c.want)
		for _, l := range got {
			if !c.q.Matches(l) {
				t.Errorf("%s: line %d does not match the query by Matches", c.name, l.Seq)
			}
		}
	}

	ps, err := s.RuntimeLogProjects(ctx)
	must(t, err)
	equal(t, "projects with logs", len(ps), 2)
	for _, p := range ps {
		if p.OwnerID != alice.ID {
			t.Errorf("owner of %s = %q", p.ProjectID, p.OwnerID)
		}
	}

	// By age: lines 1-99 are before base+100s.
	n, b, err := s.PruneRuntimeLogs(ctx, api.ID, base.Add(100*time.Second), -1)
	must(t, err)
	equal(t, "lines pruned by age", n, int64(99))
	var pruned int64
	for _, l := range in[:99] {
		pruned += apogee.RuntimeLogSize(l)
	}
	equal(t, "bytes pruned by age", b, pruned)
	first, err := s.RuntimeLogs(ctx, api.ID, apogee.RuntimeLogQuery{Limit: 1})
	must(t, err)
	equal(t, "first line after pruning by age", first[0].Seq, int64(100))

	// By size: keep at most 10 lines' worth.
	keep := int64(0)
	for _, l := range in[1190:] {
		keep += apogee.RuntimeLogSize(l)
	}
	_, _, err = s.PruneRuntimeLogs(ctx, api.ID, time.Time{}, keep)
	must(t, err)
	left, err := s.RuntimeLogs(ctx, api.ID, apogee.RuntimeLogQuery{})
	must(t, err)
	equal(t, "lines left after pruning by size", seqs(left)[0], int64(1191))
	st, err = s.RuntimeLogStats(ctx, api.ID)
	must(t, err)
	equal(t, "stats after pruning", st, apogee.RuntimeLogStats{ProjectID: api.ID, OwnerID: alice.ID, LastSeq: 1200, Lines: 10, Bytes: keep})

	// Numbering goes on after the pruned lines.
	got, _, err = s.AppendRuntimeLogs(ctx, api.ID, in[:1])
	must(t, err)
	equal(t, "seq after pruning", got[0].Seq, int64(1201))

	// Everything, by age and size at once; the log keeps numbering.
	_, _, err = s.PruneRuntimeLogs(ctx, api.ID, base.Add(time.Hour), 0)
	must(t, err)
	st, err = s.RuntimeLogStats(ctx, api.ID)
	must(t, err)
	equal(t, "stats of a pruned log", [3]int64{st.LastSeq, st.Lines, st.Bytes}, [3]int64{1201, 0, 0})
	n, _, err = s.PruneRuntimeLogs(ctx, api.ID, base.Add(time.Hour), 0)
	must(t, err)
	equal(t, "pruning an empty log", n, int64(0))
	n, _, err = s.PruneRuntimeLogs(ctx, "nosuch", base, 0)
	must(t, err)
	equal(t, "pruning a missing log", n, int64(0))
	ps, err = s.RuntimeLogProjects(ctx)
	must(t, err)
	equal(t, "projects with lines", len(ps), 1)

	must(t, s.DeleteProject(ctx, web.ID))
	got, err = s.RuntimeLogs(ctx, web.ID, apogee.RuntimeLogQuery{})
	must(t, err)
	equal(t, "lines after the project is deleted", len(got), 0)
}

// testRuntimeLogsLargePrune prunes more than one batch by size.
func testRuntimeLogsLargePrune(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	p := project(t, s, user(t, s, "alice@example.com"), "api")
	lines := make([]apogee.LogLine, 12_000)
	for i := range lines {
		lines[i] = rtLine(i, "instanceaaaa", "0123456789") // 11 bytes each
	}
	_, _, err := s.AppendRuntimeLogs(ctx, p.ID, lines)
	must(t, err)
	n, b, err := s.PruneRuntimeLogs(ctx, p.ID, time.Time{}, 11*100)
	must(t, err)
	equal(t, "pruned", [2]int64{n, b}, [2]int64{11_900, 11 * 11_900})
	n, _, err = s.PruneRuntimeLogs(ctx, p.ID, base.Add(11_950*time.Second), -1)
	must(t, err)
	equal(t, "pruned by age", n, int64(50))
}

// testConcurrentRuntimeLogs appends from many writers at once: every line
// gets its own seq, without gaps.
func testConcurrentRuntimeLogs(t *testing.T, s apogee.Store) {
	ctx := t.Context()
	p := project(t, s, user(t, s, "alice@example.com"), "api")
	const writers, appends = 8, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for a := range appends {
				batch := []apogee.LogLine{rtLine(a, fmt.Sprintf("writer%06d", w), "x"), rtLine(a, fmt.Sprintf("writer%06d", w), "y")}
				got, _, err := s.AppendRuntimeLogs(ctx, p.ID, batch)
				if err != nil {
					t.Error(err)
					return
				}
				if got[1].Seq != got[0].Seq+1 {
					t.Errorf("one append's lines got seqs %d and %d", got[0].Seq, got[1].Seq)
				}
			}
		})
	}
	wg.Wait()
	all, err := s.RuntimeLogs(ctx, p.ID, apogee.RuntimeLogQuery{})
	must(t, err)
	for i, l := range all {
		if l.Seq != int64(i+1) {
			t.Fatalf("line %d has seq %d", i, l.Seq)
		}
	}
	equal(t, "lines", len(all), writers*appends*2)
}
