package main

import (
	"context"

	"github.com/drillbook/drillbook/adapters/was"
)

func wasScenarios() []string { return was.Scenarios() }

func startWASTraining(ctx context.Context, dir, scenario string) (*was.Training, error) {
	return was.StartTraining(ctx, dir, scenario)
}
