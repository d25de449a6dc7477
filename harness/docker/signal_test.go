package docker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// TestCreateOutlivesInterrupt: a create already sent is carried to the
// daemon's answer when the interrupt comes (its own context is not
// cancelled), and the caller then hears of the interrupt, so that the
// set-up goes no further and Stop removes what was made.
func TestCreateOutlivesInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started, release := make(chan struct{}), make(chan struct{})
	var callErr error
	done := make(chan error, 1)
	go func() {
		done <- create(ctx, func(cctx context.Context) error {
			close(started)
			<-release
			callErr = cctx.Err()
			return nil
		})
	}()
	<-started
	cancel()
	time.Sleep(20 * time.Millisecond) // the interrupt lands mid-call
	close(release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("create after an interrupt mid-call: %v, want context.Canceled", err)
	}
	if callErr != nil {
		t.Fatalf("the call's own context ended with the interrupt: %v", callErr)
	}
	called := false
	err := create(ctx, func(context.Context) error { called = true; return nil })
	if called || !errors.Is(err, context.Canceled) {
		t.Fatalf("create after the interrupt: called %v, err %v; want no call", called, err)
	}
}

// TestCreateGate: closing waits for the creates in flight and refuses new
// ones, so that the kill-at-once path lists everything the daemon made.
func TestCreateGate(t *testing.T) {
	var g createGate
	if err := g.enter(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan int, 1)
	go func() { waited <- g.closeAndWait(context.Background()) }()
	select {
	case <-waited:
		t.Fatal("closeAndWait returned with a create in flight")
	case <-time.After(50 * time.Millisecond):
	}
	if err := g.enter(); !errors.Is(err, errClosing) {
		t.Fatalf("enter after close: %v, want errClosing", err)
	}
	g.leave()
	select {
	case n := <-waited:
		if n != 0 {
			t.Fatalf("closeAndWait: %d unanswered, want 0", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closeAndWait did not return once the create was answered")
	}

	// A create that never answers: the wait is bounded by its context.
	var h createGate
	_ = h.enter()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if n := h.closeAndWait(ctx); n != 1 {
		t.Fatalf("closeAndWait on a stuck create: %d unanswered, want 1", n)
	}
}

// TestRuleRun: the run id is read back from a rule's comment, so that the
// kill-at-once path removes only its own runs' host rules.
func TestRuleRun(t *testing.T) {
	rules := findProjectRules("*filter\n-A OUTPUT -d 10.0.0.1/32 -m comment --comment \"" + comment("run-1", "cut") + "\" -j DROP\n" +
		"-A OUTPUT -m comment --comment " + comment("run-2", "") + " -j ARES\nCOMMIT\n")
	if len(rules) != 2 {
		t.Fatalf("found %d rules, want 2", len(rules))
	}
	if got := ruleRun(rules[0]); got != "run-1" {
		t.Errorf("ruleRun = %q, want run-1", got)
	}
	if got := ruleRun(rules[1]); got != "run-2" {
		t.Errorf("ruleRun = %q, want run-2", got)
	}
}

// TestRemoveOwned: the kill-at-once path's removal takes every resource
// carrying its owner label, of any run, and leaves another owner's.
func TestRemoveOwned(t *testing.T) {
	requireDocker(t)
	cli, err := NewDockerClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	// Owners on a host of their own: should this test die half-way,
	// Clean leaves them (not this host's), torture clean --all removes.
	stamp := time.Now().UnixNano()
	mine, other := fmt.Sprintf("signal-test-host:%d:1", stamp), fmt.Sprintf("signal-test-host:%d:2", stamp)
	labels := func(run, own string) map[string]string {
		l := runLabels(run, "server", "s1")
		l[LabelOwner] = own
		return l
	}
	var made []string
	for i, own := range []string{mine, mine, other} {
		run := fmt.Sprintf("signal-test-%d-%d", stamp, i)
		name := "ares-torture-" + run
		if _, err := cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: labels(run, own)}); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: labels(run, own)}); err != nil {
			t.Fatal(err)
		}
		made = append(made, name)
	}
	t.Cleanup(func() {
		for _, n := range made {
			_ = cli.NetworkRemove(ctx, n)
			_ = cli.VolumeRemove(ctx, n, true)
		}
	})
	if err := removeOwned(ctx, cli, mine, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	ownerFilter := func(own string) filters.Args {
		return filters.NewArgs(filters.Arg("label", LabelProject+"="+ProjectValue), filters.Arg("label", LabelOwner+"="+own))
	}
	if n, err := ownedLeft(ctx, cli, ownerFilter(mine)); err != nil || n != 0 {
		t.Fatalf("after removeOwned: %d of its resources left (%v), want 0", n, err)
	}
	if n, err := ownedLeft(ctx, cli, ownerFilter(other)); err != nil || n != 2 {
		t.Fatalf("another owner's resources: %d left (%v), want its volume and network", n, err)
	}
}
