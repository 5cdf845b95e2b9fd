package cgroups

import (
	"errors"
	"fmt"
	"math"
)

// The spec's resources are cgroup v1's. On cgroup v2 the values that have no file of the same
// meaning are converted here, and only here, the way runc and crun convert them, so that one
// config gives the same container on either runtime:
//
//	spec (v1 meaning)            v2 file           conversion
//	cpu.shares  2..262144        cpu.weight        1..10000, log-scale: 2 -> 1, 1024 -> 100, 262144 -> 10000
//	blockIO.weight 10..1000      io.weight         1 + (w-10)*9999/990  (io.bfq.weight takes w as is)
//	memory.swap (memory+swap)    memory.swap.max   swap - limit (swap only); -1 -> max
//	memory.reservation           memory.low        same bytes
//	cpu.quota, cpu.period        cpu.max           "QUOTA PERIOD", quota -1 -> max
//
// The shares mapping is the quadratic-in-log one runc 1.3 and crun 1.23 adopted: the older linear
// one (1 + (shares-2)*9999/262142) gave the default 1024 shares a weight of 39 where the v2
// default is 100, so a container with default shares ran at a third of its neighbours' weight.

// CPUSharesToWeight converts v1 cpu.shares to v2 cpu.weight; 0 (unset) stays 0.
func CPUSharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares <= 2 {
		return 1
	}
	if shares >= 262144 {
		return 10000
	}
	l := math.Log2(float64(shares))
	exponent := (l*l+125*l)/612.0 - 7.0/34.0
	return uint64(math.Ceil(math.Pow(10, exponent)))
}

// BlkioWeightToIOWeight converts a v1 blkio weight (10..1000) to a v2 io.weight (1..10000);
// 0 (unset) stays 0.
func BlkioWeightToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	return 1 + (uint64(w)-10)*9999/990
}

// SwapToV2 converts the spec's memory.swap (memory plus swap, as v1's memsw) to memory.swap.max
// (swap alone), given memory.limit. -1 is unlimited, 0 unset.
func SwapToV2(swap, limit int64) (int64, error) {
	switch {
	case limit == -1 && swap == 0:
		// v1 compatibility: unlimited memory without a swap limit is unlimited swap too.
		return -1, nil
	case swap == -1 || swap == 0:
		return swap, nil
	case limit == 0 || limit == -1:
		return 0, errors.New("a swap limit needs a memory limit")
	case swap < limit:
		return 0, fmt.Errorf("memory+swap limit %d is below the memory limit %d", swap, limit)
	}
	return swap - limit, nil
}
