//go:build !linux

package main

import "errors"

func allowedCPUs() []int { return nil }

func pinProcess(int, bool) error { return errors.New("pinning needs Linux") }
