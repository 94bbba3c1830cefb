package budget

import (
	"runtime"
	"runtime/debug"
)

// Snapshot is a reading of the process's memory, for /debug/budget and
// the RAM profile.
type Snapshot struct {
	Proc
	HeapInUse uint64 `json:"heap_inuse"`
	HeapAlloc uint64 `json:"heap_alloc"`
	HeapSys   uint64 `json:"heap_sys"`
	StackSys  uint64 `json:"stack_sys"`
	NumGC     uint32 `json:"num_gc"`
	Limit     int64  `json:"memory_limit"`
	Parts     []Part `json:"parts"`
}

// Read returns a snapshot. With gc set it first runs a GC and returns freed
// memory to the OS, so that readings taken at different moments compare.
func Read(gc bool) Snapshot {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	limit := debug.SetMemoryLimit(-1)
	if limit == 1<<63-1 {
		limit = 0
	}
	return Snapshot{
		Proc: ReadProc(), HeapInUse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, HeapSys: ms.HeapSys,
		StackSys: ms.StackSys, NumGC: ms.NumGC, Limit: limit, Parts: Parts(),
	}
}
