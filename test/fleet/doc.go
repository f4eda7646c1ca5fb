// Package fleet runs Rensei against simulated fleets of Docker hosts
// (test/fakeengine: the real Docker client and drivers talk to in-process
// engines): the watch-fed cache of live state against real event streams,
// and a daemon managing a hundred hosts with twenty thousand containers.
// It holds tests and benchmarks only.
package fleet
