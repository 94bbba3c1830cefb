package minidump

import "fmt"

// Reason returns the crash reason named as the dump's OS names it
// ("EXCEPTION_ACCESS_VIOLATION_READ", "SIGSEGV / SEGV_MAPERR",
// "EXC_BAD_ACCESS / KERN_INVALID_ADDRESS") and the address it concerns.
// ok is false when the dump holds no exception.
func (d *Dump) Reason() (reason string, addr uint64, ok bool) {
	e := d.Exception
	if e == nil {
		return "", 0, false
	}
	addr = e.Address
	platform := uint32(platformWin32NT)
	if d.System != nil {
		platform = d.System.PlatformID
	}
	switch platform {
	case platformLinux, platformAndroid, platformSolaris, platformFuchsia, platformNaCl:
		return linuxReason(e), addr, true
	case platformMac, platformIOS:
		return macReason(e), addr, true
	}
	reason = windowsReason(e)
	// An access violation's address is the memory it touched.
	if (e.Code == 0xc0000005 || e.Code == 0xc0000006) && len(e.Params) >= 2 {
		addr = e.Params[1]
	}
	return reason, addr, true
}

var windowsCodes = map[uint32]string{
	0x40010005: "DBG_CONTROL_C",
	0x40000015: "EXCEPTION_FATAL_APP_EXIT",
	0x80000002: "EXCEPTION_DATATYPE_MISALIGNMENT",
	0x80000003: "EXCEPTION_BREAKPOINT",
	0x80000004: "EXCEPTION_SINGLE_STEP",
	0xc0000005: "EXCEPTION_ACCESS_VIOLATION",
	0xc0000006: "EXCEPTION_IN_PAGE_ERROR",
	0xc0000008: "EXCEPTION_INVALID_HANDLE",
	0xc000000d: "STATUS_INVALID_PARAMETER",
	0xc000001d: "EXCEPTION_ILLEGAL_INSTRUCTION",
	0xc0000025: "EXCEPTION_NONCONTINUABLE_EXCEPTION",
	0xc0000026: "EXCEPTION_INVALID_DISPOSITION",
	0xc000008c: "EXCEPTION_ARRAY_BOUNDS_EXCEEDED",
	0xc000008d: "EXCEPTION_FLT_DENORMAL_OPERAND",
	0xc000008e: "EXCEPTION_FLT_DIVIDE_BY_ZERO",
	0xc000008f: "EXCEPTION_FLT_INEXACT_RESULT",
	0xc0000090: "EXCEPTION_FLT_INVALID_OPERATION",
	0xc0000091: "EXCEPTION_FLT_OVERFLOW",
	0xc0000092: "EXCEPTION_FLT_STACK_CHECK",
	0xc0000093: "EXCEPTION_FLT_UNDERFLOW",
	0xc0000094: "EXCEPTION_INT_DIVIDE_BY_ZERO",
	0xc0000095: "EXCEPTION_INT_OVERFLOW",
	0xc0000096: "EXCEPTION_PRIV_INSTRUCTION",
	0xc00000fd: "EXCEPTION_STACK_OVERFLOW",
	0xc0000194: "EXCEPTION_POSSIBLE_DEADLOCK",
	0xc0000374: "STATUS_HEAP_CORRUPTION",
	0xc0000409: "STATUS_STACK_BUFFER_OVERRUN",
	0xc0000417: "STATUS_INVALID_CRUNTIME_PARAMETER",
	0xc0000420: "STATUS_ASSERTION_FAILURE",
	0xe06d7363: "Unhandled C++ Exception",
	0x4000001f: "STATUS_WX86_BREAKPOINT",
	0xc0000602: "STATUS_FAIL_FAST_EXCEPTION",
}

func windowsReason(e *Exception) string {
	name, ok := windowsCodes[e.Code]
	if !ok {
		return fmt.Sprintf("0x%08x", e.Code)
	}
	if e.Code == 0xc0000005 && len(e.Params) >= 1 {
		switch e.Params[0] {
		case 0:
			return name + "_READ"
		case 1:
			return name + "_WRITE"
		case 8:
			return name + "_EXEC"
		}
	}
	if e.Code == 0xc0000409 && len(e.Params) >= 1 {
		// __fastfail codes.
		switch e.Params[0] {
		case 2:
			return name + " / FAST_FAIL_STACK_COOKIE_CHECK_FAILURE"
		case 5:
			return name + " / FAST_FAIL_INVALID_ARG"
		case 7:
			return name + " / FAST_FAIL_FATAL_APP_EXIT"
		}
	}
	return name
}

var signals = map[uint32]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
	8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
	14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
	20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
	26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
	0xffffffff: "DUMP_REQUESTED",
}

// si_code names per signal.
var sigCodes = map[uint32]map[uint32]string{
	11: {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR", 0x80: "SI_KERNEL"},
	7:  {1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR", 4: "BUS_MCEERR_AR", 5: "BUS_MCEERR_AO"},
	8: {1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV", 4: "FPE_FLTOVF", 5: "FPE_FLTUND",
		6: "FPE_FLTRES", 7: "FPE_FLTINV", 8: "FPE_FLTSUB"},
	4: {1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP", 5: "ILL_PRVOPC",
		6: "ILL_PRVREG", 7: "ILL_COPROC", 8: "ILL_BADSTK"},
	5: {1: "TRAP_BRKPT", 2: "TRAP_TRACE"},
}

var siGeneric = map[uint32]string{0x80: "SI_KERNEL", 0xfffffffa: "SI_TKILL", 0xffffffff: "SI_QUEUE"}

func linuxReason(e *Exception) string {
	name, ok := signals[e.Code]
	if !ok {
		return fmt.Sprintf("signal %d", e.Code)
	}
	if c, ok := sigCodes[e.Code][e.Flags]; ok {
		return name + " / " + c
	}
	if c, ok := siGeneric[e.Flags]; ok && e.Code != 0xffffffff {
		return name + " / " + c
	}
	return name
}

var machExceptions = map[uint32]string{
	1: "EXC_BAD_ACCESS", 2: "EXC_BAD_INSTRUCTION", 3: "EXC_ARITHMETIC", 4: "EXC_EMULATION",
	5: "EXC_SOFTWARE", 6: "EXC_BREAKPOINT", 7: "EXC_SYSCALL", 8: "EXC_MACH_SYSCALL",
	9: "EXC_RPC_ALERT", 10: "EXC_CRASH", 11: "EXC_RESOURCE", 12: "EXC_GUARD",
	0x43507378: "Simulated Exception", // Crashpad's "CPsx": a dump without a crash
}

var kernReturns = map[uint32]string{
	1: "KERN_INVALID_ADDRESS", 2: "KERN_PROTECTION_FAILURE", 3: "KERN_NO_SPACE",
	4: "KERN_INVALID_ARGUMENT", 5: "KERN_FAILURE", 6: "KERN_RESOURCE_SHORTAGE",
	8: "KERN_NO_ACCESS", 9: "KERN_MEMORY_FAILURE", 10: "KERN_MEMORY_ERROR",
	0xd: "KERN_CODESIGN_ERROR",
}

func macReason(e *Exception) string {
	// Crashpad unwraps EXC_CRASH: a crash that began as a signal has code
	// 0, with EXC_CRASH and its codes in the parameters.
	if e.Code == 0 && len(e.Params) >= 2 && e.Params[0] == 10 {
		if s, ok := signals[uint32(e.Params[1]>>24)&0xff]; ok {
			return "EXC_CRASH / " + s
		}
	}
	name, ok := machExceptions[e.Code]
	if !ok {
		// Crashpad records signals it caught on macOS as their number.
		if s, ok := signals[e.Code]; ok {
			return s
		}
		return fmt.Sprintf("0x%x", e.Code)
	}
	switch e.Code {
	case 1:
		if c, ok := kernReturns[e.Flags]; ok {
			return name + " / " + c
		}
		if e.Flags == 0x101 {
			return name + " / EXC_I386_GPFLT"
		}
	case 2:
		switch e.Flags {
		case 1:
			return name + " / EXC_I386_INVOP"
		case 0xd:
			return name + " / EXC_I386_GPFLT"
		}
	case 3:
		switch e.Flags {
		case 1:
			return name + " / EXC_I386_DIV"
		}
	case 5:
		switch e.Flags {
		case 0x00010003:
			return name + " / EXC_UNIX_BAD_SIGNAL"
		case 0xdeadc0de:
			return name + " / SIGABRT"
		}
	case 6:
		switch e.Flags {
		case 1:
			return name + " / EXC_I386_SGL"
		case 2:
			return name + " / EXC_I386_BPT"
		}
	case 10:
		// EXC_CRASH carries the signal in bits 24-31 of the code.
		if s, ok := signals[(e.Flags>>24)&0xff]; ok {
			return name + " / " + s
		}
	}
	return name
}
