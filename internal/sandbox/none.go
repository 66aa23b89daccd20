package sandbox

import (
	"context"
	"fmt"
	"os"
)

// None runs programs directly on the host, as the server's own user, in
// Spec.Dir with only Spec.Env. It isolates nothing: the program can read
// the data folder and everything else the server can. Limits still apply
// through cgroups. It exists for development and says so at every Run, in
// the log and on the run's Stderr.
type None struct {
	runner
}

var _ Sandbox = (*None)(nil)

// Name returns "none".
func (*None) Name() string { return "none" }

// NoneWarning is the line None writes to Spec.Stderr at every Run.
const NoneWarning = "WARNING: sandbox \"none\": this program runs UNSANDBOXED on the host with the server's privileges; use --sandbox bwrap outside development"

// Run runs s directly. See Sandbox for the contract.
func (n *None) Run(ctx context.Context, s Spec) (Result, error) {
	if err := n.prepare(&s); err != nil {
		return Result{}, err
	}
	return n.run(ctx, s, launch{gate: payload{Argv: s.Argv, Env: s.Env, Dir: s.Dir}})
}

// Start starts s directly, in a network namespace of its own (the only
// thing of an instance that "none" keeps: every instance can listen on the
// same port). See Starter for the contract.
func (n *None) Start(ctx context.Context, s Spec) (Instance, error) {
	if err := n.prepare(&s); err != nil {
		return nil, err
	}
	l := launch{gate: payload{Argv: s.Argv, Env: s.Env, Dir: s.Dir}}
	if err := gateReady(&l, nil); err != nil {
		return nil, err
	}
	return n.start(ctx, s, l)
}

func (n *None) prepare(s *Spec) error {
	if err := validate(s); err != nil {
		return err
	}
	if fi, err := os.Stat(s.Dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("sandbox: workspace %s: not a directory", s.Dir)
	}
	n.cfg.logger.Warn("sandbox none: running a program without isolation", "argv0", s.Argv[0], "dir", s.Dir)
	if s.Stderr != nil {
		fmt.Fprintln(s.Stderr, NoneWarning)
	}
	return nil
}
