package minidump

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Event is what a processed dump adds to its Sentry event (reference
// §11.2): a fatal level, the OS and CPU, every thread with its frames, one
// exception for the crashing thread, the modules as debug images, and a
// fingerprint that groups the crash by where it happened.
type Event struct {
	Level     string
	Timestamp int64 // unix seconds of the dump
	Contexts  map[string]any
	Threads   []any
	Exception map[string]any
	Images    []any
	// Fingerprint groups the crash: the crash reason and the top frames,
	// by function name where symbols named them, by module and offset
	// otherwise.
	Fingerprint []string
	// Missing lists the debug ids (with their debug files) of modules in
	// the crashing thread's stack that had no symbols: uploading them and
	// reprocessing gives function names.
	Missing []string
	Notes   []string
	Extra   map[string]any
}

const zeros = "0000000000000000"

// fingerprintFrames is how many of the top frames group a crash.
const fingerprintFrames = 5

// Process walks every thread (up to a limit) and builds the event parts.
func Process(d *Dump, syms Symbols) *Event {
	ev := &Event{Level: "info", Timestamp: d.Time.Unix(), Contexts: map[string]any{}, Extra: map[string]any{}}
	ptr := 8
	if d.System != nil {
		ptr = d.System.Arch.PointerSize()
		v, b := d.System.OSVersion()
		osc := map[string]any{"name": d.System.OS, "version": v, "type": "os"}
		if b != "" {
			osc["build"] = b
		}
		ev.Contexts["os"] = osc
		dev := map[string]any{"arch": d.System.Arch.String(), "type": "device"}
		if d.System.CPUs > 0 {
			dev["processor_count"] = d.System.CPUs
		}
		ev.Contexts["device"] = dev
	}
	hex := func(v uint64) string {
		s := strconv.FormatUint(v, 16)
		if pad := ptr*2 - len(s); pad > 0 {
			s = zeros[:pad] + s
		}
		return "0x" + s
	}

	crashed := d.CrashingThread()
	reason, addr, hasReason := d.Reason()
	if hasReason && !strings.HasPrefix(reason, "DUMP_REQUESTED") && !strings.HasPrefix(reason, "Simulated") {
		ev.Level = "fatal"
	}
	missing := map[string]bool{}
	var crashFrames []Frame
	for i := range d.Threads {
		t := &d.Threads[i]
		ctx := t.Context
		if i == crashed && d.Exception != nil && d.Exception.Context != nil {
			ctx = d.Exception.Context
		}
		var frames []Frame
		if i == crashed {
			frames = d.walk(t, ctx, syms, MaxFrames)
		} else if i < maxWalkThreads {
			frames = d.walk(t, ctx, syms, maxOtherFrames)
		} else if ctx != nil {
			frames = []Frame{{PC: ctx.PC(), Trust: TrustContext, Module: d.ModuleAt(ctx.PC())}}
		}
		th := map[string]any{"id": t.ID, "crashed": i == crashed, "current": i == crashed}
		if t.Name != "" {
			th["name"] = t.Name
		}
		if d.HasDumpThread && t.ID == d.DumpThreadID && i != crashed {
			th["name"] = strings.TrimSpace(t.Name + " (the thread that wrote the dump)")
		}
		if len(frames) > 0 {
			st := map[string]any{"frames": sentryFrames(frames, hex)}
			if ctx != nil {
				st["registers"] = ctx.Map()
			}
			th["stacktrace"] = st
		}
		ev.Threads = append(ev.Threads, th)
		if i == crashed {
			crashFrames = frames
			for _, f := range frames {
				if f.Module != nil && len(f.Symbols) == 0 && f.Module.DebugID != "" {
					missing[f.Module.DebugFile+" "+f.Module.DebugID] = true
				}
			}
		}
	}
	for m := range missing {
		ev.Missing = append(ev.Missing, m)
	}

	// The exception.
	typ, value := "Minidump", "Minidump without an exception"
	if hasReason {
		typ = reason
		value = fmt.Sprintf("Fatal Error: %s at %s", reason, hex(addr))
	}
	if a := d.Assertion; a != nil {
		value = fmt.Sprintf("Assertion Error: %s in %s (%s:%d)", a.Expression, a.Function, a.File, a.Line)
		if a.Type == 2 {
			typ = "Pure virtual call"
		} else {
			typ = "Invalid parameter"
		}
		ev.Level = "fatal"
	}
	if d.Crashpad != nil {
		for _, m := range d.Crashpad.Modules {
			for _, s := range m.ListAnnotations {
				if s != "" && !strings.Contains(value, s) && len(value) < 1000 {
					value += " (" + s + ")"
				}
			}
		}
	}
	exc := map[string]any{
		"type":      typ,
		"value":     value,
		"mechanism": map[string]any{"type": "minidump", "handled": false, "synthetic": true},
	}
	if crashed >= 0 {
		exc["thread_id"] = d.Threads[crashed].ID
		if len(crashFrames) > 0 {
			exc["stacktrace"] = map[string]any{"frames": sentryFrames(crashFrames, hex)}
		}
	}
	ev.Exception = exc

	// Grouping: the reason and the top frames that were not guessed.
	ev.Fingerprint = []string{"minidump", typ}
	for _, f := range crashFrames {
		if len(ev.Fingerprint) >= 2+fingerprintFrames || f.Trust == TrustScan {
			break
		}
		ev.Fingerprint = append(ev.Fingerprint, frameKey(&f, f.Trust == TrustContext))
	}

	for i := range d.Modules {
		ev.Images = append(ev.Images, image(d, &d.Modules[i], hex))
	}

	// Extras a reader of the event may want.
	if c := d.Crashpad; c != nil {
		cp := map[string]any{"report_id": c.ReportID, "client_id": c.ClientID}
		if len(c.SimpleAnnotations) > 0 {
			cp["annotations"] = c.SimpleAnnotations
		}
		ev.Extra["crashpad"] = cp
	}
	if l := d.Linux; l != nil {
		if l.LSBRelease != "" {
			ev.Extra["lsb_release"] = l.LSBRelease
			if osc, ok := ev.Contexts["os"].(map[string]any); ok {
				if name := lsbField(l.LSBRelease, "DISTRIB_DESCRIPTION"); name != "" {
					osc["distribution_pretty_name"] = name
				}
			}
		}
		if l.CmdLine != "" {
			ev.Extra["cmdline"] = l.CmdLine
		}
	}
	if len(d.MacCrashInfo) > 0 {
		ev.Extra["mac_crash_info"] = d.MacCrashInfo
	}
	if d.ProcessID != 0 {
		ev.Extra["process_id"] = d.ProcessID
	}
	ev.Notes = d.Notes
	return ev
}

func lsbField(text, key string) string {
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && k == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// frameKey names a frame for grouping: its function (the outermost of an
// inlined chain is the one compiled), else module basename and offset.
func frameKey(f *Frame, first bool) string {
	if n := len(f.Symbols); n > 0 && f.Symbols[n-1].Function != "" {
		return f.Symbols[n-1].Function
	}
	if f.Module != nil {
		return fmt.Sprintf("%s+0x%x", baseName(f.Module.Name), f.LookupAddr(first)-f.Module.Base)
	}
	return "?"
}

// baseName handles both Windows and POSIX paths.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		return p[i+1:]
	}
	return path.Base(p)
}

// SentryFrame is one frame of the event, as Sentry's native frames have
// it.
type SentryFrame struct {
	Function        string `json:"function,omitempty"`
	Filename        string `json:"filename,omitempty"`
	AbsPath         string `json:"abs_path,omitempty"`
	Lineno          uint32 `json:"lineno,omitempty"`
	Package         string `json:"package,omitempty"`
	Module          string `json:"module,omitempty"`
	InstructionAddr string `json:"instruction_addr"`
	SymbolAddr      string `json:"symbol_addr,omitempty"`
	ImageAddr       string `json:"image_addr,omitempty"`
	Trust           string `json:"trust"`
	InApp           bool   `json:"in_app"`
	Inlined         bool   `json:"inlined,omitempty"`
	// Symbolicated is false for a frame in a module whose symbols were
	// missing (its function is module+offset).
	Symbolicated *bool `json:"symbolicated,omitempty"`
}

var falseValue = false

// sentryFrames turns walked frames (innermost first) into Sentry frames
// (outermost first), one per inlined function.
func sentryFrames(frames []Frame, hex func(uint64) string) []SentryFrame {
	out := make([]SentryFrame, 0, len(frames))
	for i := len(frames) - 1; i >= 0; i-- {
		f := &frames[i]
		base := SentryFrame{InstructionAddr: hex(f.PC), Trust: f.Trust, InApp: true}
		if f.Module != nil {
			base.Package = f.Module.Name
			base.ImageAddr = hex(f.Module.Base)
			base.Module = baseName(f.Module.Name)
		}
		if len(f.Symbols) == 0 {
			if f.Module != nil {
				base.Function = base.Module + "+0x" + strconv.FormatUint(f.LookupAddr(i == 0)-f.Module.Base, 16)
				base.Symbolicated = &falseValue
			}
			out = append(out, base)
			continue
		}
		// Outermost (the compiled function) first, inlined ones after.
		for j := len(f.Symbols) - 1; j >= 0; j-- {
			s := f.Symbols[j]
			fr := base
			fr.Function = s.Function
			if s.File != "" {
				fr.Filename = baseName(s.File)
				fr.AbsPath = s.File
			}
			fr.Lineno = s.Line
			if f.Module != nil {
				fr.SymbolAddr = hex(f.Module.Base + s.FuncAddr)
			}
			fr.Inlined = s.Inlined
			out = append(out, fr)
		}
	}
	return out
}

// image describes a module for debug_meta.images.
func image(d *Dump, m *Module, hex func(uint64) string) map[string]any {
	typ := "pe"
	if d.System != nil {
		switch d.System.PlatformID {
		case platformMac, platformIOS:
			typ = "macho"
		case platformLinux, platformAndroid, platformSolaris:
			typ = "elf"
		}
	}
	img := map[string]any{
		"type":       typ,
		"code_file":  m.Name,
		"image_addr": hex(m.Base),
		"image_size": m.Size,
	}
	if m.CodeID != "" {
		img["code_id"] = m.CodeID
	}
	if m.DebugID != "" {
		img["debug_id"] = DashedID(m.DebugID)
		img["debug_file"] = m.DebugFile
	}
	if d.System != nil {
		img["arch"] = d.System.Arch.String()
	}
	return img
}

// DashedID turns Breakpad's debug id (32 hex digits and the age) into
// Sentry's form: a dashed UUID, then the age in hex when it is not 0.
func DashedID(id string) string {
	if len(id) < 33 {
		return strings.ToLower(id)
	}
	id = strings.ToLower(id)
	s := id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
	if age := strings.TrimLeft(id[32:], "0"); age != "" {
		s += "-" + age
	}
	return s
}

// BreakpadID turns a Sentry debug id (dashed, age after the last dash)
// or a Breakpad one into Breakpad's form: 32 upper-case hex digits and the
// age. ok is false for anything else.
func BreakpadID(id string) (string, bool) {
	s := strings.ToUpper(strings.ReplaceAll(id, "-", ""))
	if len(s) < 33 {
		if len(s) == 32 {
			s += "0"
		} else {
			return "", false
		}
	}
	if len(s) > 40 {
		return "", false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return "", false
		}
	}
	return s, true
}
