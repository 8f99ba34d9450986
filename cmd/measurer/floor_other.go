//go:build !linux

package main

import (
	"fmt"
	"time"
)

func measureFloor(_ *simChild, scenario string, _ int, _, _ time.Duration) (row, error) {
	return row{}, fmt.Errorf("scenario %s: the floor client needs Linux's epoll", scenario)
}
