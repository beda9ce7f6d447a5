package main

import (
	"context"
	"errors"

	"github.com/drillbook/drillbook/adapters/was/simcell"
	"github.com/drillbook/drillbook/runbook"
)

type wasTraining struct {
	Ops    []runbook.Operation
	Params map[string]string
	Stop   func() error
}

func wasScenarios() []string { return simcell.Scenarios() }

func startWASTraining(ctx context.Context, dir, scenario string) (*wasTraining, error) {
	return nil, errors.New("the simulated WebSphere cell is not wired in yet")
}
