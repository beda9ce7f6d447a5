package main

import (
	"context"
	"fmt"

	"github.com/drillbook/drillbook/runbook"
)

// driveScreen runs a session in the terminal UI.
func driveScreen(ctx context.Context, g *globalOptions, sess *runbook.Session, est *estate) error {
	o := &runOptions{}
	fmt.Fprintln(g.io.Err, "drillbook: the screen is not built yet; running in plain mode")
	return drive(ctx, g, o, sess, est, nil, nil, false)
}

// runHome opens the runbook picker on the training target.
func runHome(ctx context.Context, g *globalOptions) error {
	return listRun(g, &listOptions{})
}
