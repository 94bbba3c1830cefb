package budget

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// DropStartupPages unmaps the pages of the binary's read-only mappings
// (code and read-only data) from this process. Call it once start-up is
// done: the kernel maps code in 64 KB runs around every page fault, so
// after the package initialisers and the set-up ran, VmRSS counts megabytes
// of code that never runs again. Pages still in use fault straight back in
// from the page cache (minor faults, no disk read); the page cache itself
// is untouched. Writable mappings are left alone: dropping them would reset
// globals.
func DropStartupPages() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	var spans [][2]uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[5] != exe || strings.Contains(fs[1], "w") {
			continue
		}
		a, b, _ := strings.Cut(fs[0], "-")
		lo, err1 := strconv.ParseUint(a, 16, 64)
		hi, err2 := strconv.ParseUint(b, 16, 64)
		if err1 == nil && err2 == nil && hi > lo {
			spans = append(spans, [2]uintptr{uintptr(lo), uintptr(hi)})
		}
	}
	f.Close()
	for _, s := range spans {
		syscall.Syscall(syscall.SYS_MADVISE, s[0], s[1]-s[0], syscall.MADV_DONTNEED)
	}
}
