package budget

import (
	"bytes"
	"os"
	"strconv"
)

// Proc is a reading of the process's memory from /proc/self/status.
// Fields are bytes; all are 0 where /proc is not available.
type Proc struct {
	RSS     int64 `json:"vm_rss"`
	HWM     int64 `json:"vm_hwm"`
	RSSAnon int64 `json:"rss_anon"`
	RSSFile int64 `json:"rss_file"`
}

// ReadProc reads /proc/self/status.
func ReadProc() Proc { return readProcFile("/proc/self/status") }

// ReadProcPID reads /proc/PID/status.
func ReadProcPID(pid int) Proc {
	return readProcFile("/proc/" + strconv.Itoa(pid) + "/status")
}

func readProcFile(path string) Proc {
	b, err := os.ReadFile(path)
	if err != nil {
		return Proc{}
	}
	var p Proc
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		var dst *int64
		switch string(k) {
		case "VmRSS":
			dst = &p.RSS
		case "VmHWM":
			dst = &p.HWM
		case "RssAnon":
			dst = &p.RSSAnon
		case "RssFile":
			dst = &p.RSSFile
		default:
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			continue
		}
		*dst = n << 10 // values are in kB
	}
	return p
}

func rssBytes() int64 { return ReadProc().RSS }
