//go:build !linux

package main

import "errors"

func allowedCPUs() []int { return nil }

func pinProcess(int) error { return errors.New("pinning needs Linux") }
