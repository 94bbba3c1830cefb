// Package minidump reads minidump crash dumps (the format of Windows'
// MiniDumpWriteDump, also written by Breakpad and Crashpad on Linux, macOS
// and Android) without cgo, walks their threads' stacks the way Breakpad
// does, and symbolicates the frames from Breakpad .sym files (package sym).
//
// The reader takes an io.ReaderAt and reads only the streams it needs; it
// never trusts a count or an offset in the file: every record is bounds
// checked, and a stream that does not read leaves a note (Dump.Notes) while
// the rest of the dump is still read. Only a file that is not a minidump at
// all is refused.
//
// Format: the public Microsoft documentation of minidumpapiset.h and
// Breakpad's minidump_format.h / Crashpad's minidump_extensions.h
// (read, not copied).
package minidump

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/tinysink/tinysink/internal/xsort"
)

// ErrNotMinidump is returned by Read for a file without the minidump header.
var ErrNotMinidump = errors.New("minidump: not a minidump (no MDMP header)")

// Limits on what one dump may make the reader hold (real dumps have a few
// hundred threads and modules, full-memory dumps thousands of ranges); a
// dump of a 100 MiB envelope stays under ~4 MiB of heap.
const (
	maxStreams    = 4096
	maxThreads    = 4096
	maxModules    = 4096
	maxRanges     = 1 << 16
	maxString     = 64 << 10 // bytes of one string
	maxTextStream = 64 << 10 // bytes kept of a Linux text stream
	maxNotes      = 32
)

// Stream types.
const (
	streamThreadList       = 3
	streamModuleList       = 4
	streamMemoryList       = 5
	streamException        = 6
	streamSystemInfo       = 7
	streamMemory64List     = 9
	streamMiscInfo         = 15
	streamThreadNames      = 24
	streamBreakpadInfo     = 0x47670001
	streamAssertionInfo    = 0x47670002
	streamLinuxCPUInfo     = 0x47670003
	streamLinuxProcStatus  = 0x47670004
	streamLinuxLSBRelease  = 0x47670005
	streamLinuxCmdLine     = 0x47670006
	streamLinuxEnviron     = 0x47670007
	streamLinuxAuxv        = 0x47670008
	streamLinuxMaps        = 0x47670009
	streamLinuxDSODebug    = 0x4767000A
	streamCrashpadInfo     = 0x43500001
	streamMacCrashInfo     = 0x4d7a0001
	streamMozLinuxLimits   = 0x4d7a0003
	streamMozSoftErrors    = 0x4d7a0005
	streamMozMacBootargs   = 0x4d7a0007
	headerSignature        = 0x504d444d // "MDMP"
	headerSize             = 32
	dirEntrySize           = 12
	threadSize             = 48
	moduleSize             = 108
	memoryDescriptorSize   = 16
	exceptionStreamSize    = 168
	systemInfoSize         = 56
	assertionStreamSize    = 776
	crashpadInfoSize       = 52
	macCrashInfoHeaderSize = 12
)

// Dump is what was read from a minidump.
type Dump struct {
	Time      time.Time // when the dump was written
	Flags     uint64
	System    *SystemInfo // nil without a system info stream
	Exception *Exception  // nil: the dump was requested, not a crash
	Modules   []Module
	Threads   []Thread
	// Memory lists the captured memory ranges, sorted as in the file.
	Memory []MemoryRange
	// ProcessID and ProcessCreateTime come from the misc info stream
	// (zero when absent).
	ProcessID         uint32
	ProcessCreateTime time.Time
	// Breakpad's info stream: the thread that wrote the dump and the one
	// that asked for it (the crashing one); 0 when unknown.
	DumpThreadID, RequestingThreadID uint32
	HasDumpThread, HasRequesting     bool
	Assertion                        *Assertion
	Linux                            *LinuxInfo
	Crashpad                         *CrashpadInfo
	MacCrashInfo                     []string // messages of the macOS crash info stream
	// Notes say what could not be read: a stream out of bounds, a count
	// that does not fit its stream, an unknown context. The dump is read
	// as far as it goes.
	Notes []string

	r      io.ReaderAt
	size   int64
	byBase []int32 // module indexes by base address, made on first use
}

// Location is a range of bytes in the file.
type Location struct {
	Size uint32
	RVA  uint32
}

// SystemInfo is the system info stream.
type SystemInfo struct {
	Arch       Arch
	ArchCode   uint16
	CPUs       uint8
	PlatformID uint32
	OS         string // "Windows", "Linux", "macOS", "iOS", "Android", ...
	Major      uint32
	Minor      uint32
	Build      uint32
	CSDVersion string // service pack, or the kernel's uname on Linux
	CPUVendor  string // x86: "GenuineIntel", ...
}

// OSVersion returns the version and build as Sentry's os context has
// them: on Linux and Android the kernel release and the build string from
// the uname Breakpad records, elsewhere major.minor.build and the service
// pack or build number.
func (s *SystemInfo) OSVersion() (version, build string) {
	if s.PlatformID == platformLinux || s.PlatformID == platformAndroid {
		// Breakpad writes "<sysname> <release> <version...> <machine>";
		// older writers only the release and version.
		f := strings.Fields(s.CSDVersion)
		if len(f) >= 2 && (f[0] == "Linux" || f[0] == "Android") {
			f = f[1:]
		}
		if len(f) > 0 {
			version = f[0]
			rest := f[1:]
			if len(rest) > 0 && isMachine(rest[len(rest)-1]) {
				rest = rest[:len(rest)-1]
			}
			build = strings.Join(rest, " ")
			return version, build
		}
	}
	version = fmt.Sprintf("%d.%d.%d", s.Major, s.Minor, s.Build)
	build = s.CSDVersion
	return version, build
}

func isMachine(s string) bool {
	switch s {
	case "x86_64", "i386", "i486", "i586", "i686", "aarch64", "arm64", "armv7l", "armv6l", "armv8l", "mips", "mips64", "ppc64le", "riscv64":
		return true
	}
	return false
}

// Platform ids.
const (
	platformWin32NT  = 2
	platformMac      = 0x8101
	platformIOS      = 0x8102
	platformLinux    = 0x8201
	platformSolaris  = 0x8202
	platformAndroid  = 0x8203
	platformPS3      = 0x8204
	platformNaCl     = 0x8205
	platformFuchsia  = 0x8206
	platformWin32S   = 0
	platformWin32Win = 1
)

func osName(id uint32) string {
	switch id {
	case platformWin32NT, platformWin32S, platformWin32Win:
		return "Windows"
	case platformMac:
		return "macOS"
	case platformIOS:
		return "iOS"
	case platformLinux:
		return "Linux"
	case platformSolaris:
		return "Solaris"
	case platformAndroid:
		return "Android"
	case platformPS3:
		return "PS3"
	case platformNaCl:
		return "NaCl"
	case platformFuchsia:
		return "Fuchsia"
	}
	return fmt.Sprintf("unknown (0x%x)", id)
}

// Exception is the exception stream: what stopped the process.
type Exception struct {
	ThreadID uint32
	Code     uint32
	Flags    uint32
	Address  uint64
	Params   []uint64
	Context  *Context // the thread's context at the fault; nil if unreadable
}

// Module is a loaded executable or library.
type Module struct {
	Base     uint64
	Size     uint32
	Name     string // full path as the dump has it
	Checksum uint32
	TimeDate uint32
	// DebugFile and DebugID name the module's debug file (e.g. the .pdb
	// and "5A9832E5287241C1838ED98914E9B7FF1", Breakpad's form); CodeID is
	// the executable's id (build id, or timestamp+size on Windows).
	DebugFile string
	DebugID   string
	CodeID    string
	Version   string // file version, Windows only
}

// End returns the first address past the module.
func (m *Module) End() uint64 { return m.Base + uint64(m.Size) }

// Contains reports whether addr lies in the module.
func (m *Module) Contains(addr uint64) bool { return addr >= m.Base && addr-m.Base < uint64(m.Size) }

// Thread is one thread of the process.
type Thread struct {
	ID        uint32
	Name      string
	StackBase uint64
	Stack     Location // the captured stack memory
	Context   *Context // nil if unreadable
}

// MemoryRange is one captured range of the process's memory.
type MemoryRange struct {
	Base uint64
	Size uint64
	off  int64 // where its bytes start in the file
}

// Assertion is Breakpad's assertion stream (the MSVC invalid-parameter
// handler and pure-virtual-call handler write it).
type Assertion struct {
	Expression string
	Function   string
	File       string
	Line       uint32
	Type       uint32 // 1 invalid parameter, 2 pure virtual call
}

// LinuxInfo holds the text streams Breakpad's Linux writer adds, each cut
// at 64 KiB.
type LinuxInfo struct {
	CPUInfo    string
	ProcStatus string
	LSBRelease string
	CmdLine    string
	Environ    string
	Maps       []MapsEntry
	HasAuxv    bool
	HasDSO     bool
}

// MapsEntry is one readable line of /proc/self/maps.
type MapsEntry struct {
	Start, End uint64
	Perms      string
	Path       string
}

// CrashpadInfo is Crashpad's info stream.
type CrashpadInfo struct {
	ReportID          string
	ClientID          string
	SimpleAnnotations map[string]string
	Modules           []CrashpadModule
}

// CrashpadModule is the Crashpad annotations of one module.
type CrashpadModule struct {
	ModuleIndex       uint32
	ListAnnotations   []string
	SimpleAnnotations map[string]string
	Annotations       map[string]string // annotation objects of string type
}

// Read reads the minidump in r (size bytes). It fails only when r does not
// start with a minidump header; what else does not read is in Notes.
func Read(r io.ReaderAt, size int64) (*Dump, error) {
	d := &Dump{r: r, size: size}
	var h [headerSize]byte
	if size < headerSize {
		return nil, ErrNotMinidump
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("minidump: reading the header: %w", err)
	}
	if le.Uint32(h[0:]) != headerSignature || le.Uint16(h[4:]) != 0xa793 {
		return nil, ErrNotMinidump
	}
	n := le.Uint32(h[8:])
	dirRVA := le.Uint32(h[12:])
	d.Time = time.Unix(int64(le.Uint32(h[20:])), 0).UTC()
	d.Flags = le.Uint64(h[24:])
	if n > maxStreams {
		d.note("the header claims %d streams; reading the first %d", n, maxStreams)
		n = maxStreams
	}
	dir, err := d.bytes(int64(dirRVA), int64(n)*dirEntrySize)
	if err != nil {
		// Read as many directory entries as the file holds.
		avail := (size - int64(dirRVA)) / dirEntrySize
		if avail <= 0 || int64(dirRVA) > size {
			return nil, fmt.Errorf("minidump: the stream directory at 0x%x is outside the file", dirRVA)
		}
		d.note("the stream directory claims %d streams, the file holds %d", n, avail)
		n = uint32(avail)
		if dir, err = d.bytes(int64(dirRVA), int64(n)*dirEntrySize); err != nil {
			return nil, fmt.Errorf("minidump: reading the stream directory: %w", err)
		}
	}
	type entry struct {
		typ uint32
		loc Location
	}
	entries := make([]entry, 0, n)
	for i := range int(n) {
		e := dir[i*dirEntrySize:]
		entries = append(entries, entry{le.Uint32(e), Location{le.Uint32(e[4:]), le.Uint32(e[8:])}})
	}
	// System info first: the contexts of threads and the exception depend
	// on the CPU.
	for _, e := range entries {
		if e.typ == streamSystemInfo {
			d.readSystemInfo(e.loc)
		}
	}
	for _, e := range entries {
		switch e.typ {
		case streamThreadList:
			d.readThreads(e.loc)
		case streamModuleList:
			d.readModules(e.loc)
		case streamMemoryList:
			d.readMemoryList(e.loc)
		case streamMemory64List:
			d.readMemory64List(e.loc)
		case streamMiscInfo:
			d.readMiscInfo(e.loc)
		case streamBreakpadInfo:
			d.readBreakpadInfo(e.loc)
		case streamAssertionInfo:
			d.readAssertion(e.loc)
		case streamLinuxCPUInfo, streamLinuxProcStatus, streamLinuxLSBRelease, streamLinuxCmdLine,
			streamLinuxEnviron, streamLinuxAuxv, streamLinuxMaps, streamLinuxDSODebug:
			d.readLinux(e.typ, e.loc)
		case streamCrashpadInfo:
			d.readCrashpad(e.loc)
		case streamMacCrashInfo:
			d.readMacCrashInfo(e.loc)
		}
	}
	// The exception last: its thread's context is looked up among the
	// threads.
	for _, e := range entries {
		if e.typ == streamException {
			d.readException(e.loc)
		}
	}
	for _, e := range entries {
		if e.typ == streamThreadNames {
			d.readThreadNames(e.loc)
		}
	}
	return d, nil
}

var le = binary.LittleEndian

func (d *Dump) note(format string, args ...any) {
	if len(d.Notes) < maxNotes {
		d.Notes = append(d.Notes, fmt.Sprintf(format, args...))
	}
}

// bytes reads n bytes at off, refusing ranges outside the file.
func (d *Dump) bytes(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > d.size || n > d.size-off {
		return nil, fmt.Errorf("range 0x%x+0x%x is outside the file (%d bytes)", off, n, d.size)
	}
	b := make([]byte, n)
	if _, err := d.r.ReadAt(b, off); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, err
	}
	return b, nil
}

// stream reads a stream's bytes, at least min of them.
func (d *Dump) stream(name string, loc Location, min int) ([]byte, bool) {
	if int(loc.Size) < min {
		d.note("the %s stream is %d bytes, shorter than %d", name, loc.Size, min)
		return nil, false
	}
	b, err := d.bytes(int64(loc.RVA), int64(loc.Size))
	if err != nil {
		d.note("the %s stream: %v", name, err)
		return nil, false
	}
	return b, true
}

// countedList checks a stream of a 32-bit count followed by records of
// size each (after skip bytes of padding), and returns the count.
func (d *Dump) countedList(name string, b []byte, size, skip, max int) int {
	n := int(le.Uint32(b))
	room := (len(b) - 4 - skip) / size
	if room < 0 {
		room = 0
	}
	if n > room {
		d.note("the %s stream claims %d records but holds %d", name, n, room)
		n = room
	}
	if n > max {
		d.note("the %s stream has %d records; reading %d", name, n, max)
		n = max
	}
	return n
}

// str reads a MINIDUMP_STRING (a 32-bit byte length and UTF-16LE) at rva.
func (d *Dump) str(rva uint32) (string, error) {
	lb, err := d.bytes(int64(rva), 4)
	if err != nil {
		return "", err
	}
	n := int64(le.Uint32(lb))
	if n > maxString {
		n = maxString
	}
	b, err := d.bytes(int64(rva)+4, n&^1)
	if err != nil {
		return "", err
	}
	return utf16String(b), nil
}

// utf8str reads a Crashpad/Breakpad UTF-8 string (a 32-bit length, then
// the bytes) at rva.
func (d *Dump) utf8str(rva uint32) (string, error) {
	lb, err := d.bytes(int64(rva), 4)
	if err != nil {
		return "", err
	}
	n := int64(le.Uint32(lb))
	if n > maxString {
		n = maxString
	}
	b, err := d.bytes(int64(rva)+4, n)
	if err != nil {
		return "", err
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}

func utf16String(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := le.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

func cString(b []byte) string {
	if i := indexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func (d *Dump) readSystemInfo(loc Location) {
	b, ok := d.stream("system info", loc, systemInfoSize)
	if !ok {
		return
	}
	s := &SystemInfo{
		ArchCode:   le.Uint16(b[0:]),
		CPUs:       b[6],
		Major:      le.Uint32(b[8:]),
		Minor:      le.Uint32(b[12:]),
		Build:      le.Uint32(b[16:]),
		PlatformID: le.Uint32(b[20:]),
	}
	s.Arch = archFromCode(s.ArchCode)
	s.OS = osName(s.PlatformID)
	if rva := le.Uint32(b[24:]); rva != 0 {
		csd, err := d.str(rva)
		if err != nil {
			d.note("the system info's version string: %v", err)
		}
		s.CSDVersion = csd
	}
	if s.Arch == ArchX86 || s.Arch == ArchAMD64 {
		// cpu.x86: VendorId[3] (EBX, EDX, ECX of cpuid 0).
		if v := cString(b[32:44]); isWord(v) {
			s.CPUVendor = v
		}
	}
	d.System = s
}

func (d *Dump) arch() Arch {
	if d.System != nil {
		return d.System.Arch
	}
	return ArchUnknown
}

func (d *Dump) context(loc Location, what string) *Context {
	if loc.Size == 0 {
		return nil
	}
	if loc.Size > 4096 {
		d.note("the context of %s is %d bytes, too large for any known CPU", what, loc.Size)
		return nil
	}
	b, err := d.bytes(int64(loc.RVA), int64(loc.Size))
	if err != nil {
		d.note("the context of %s: %v", what, err)
		return nil
	}
	c, err := parseContext(b, d.arch())
	if err != nil {
		d.note("the context of %s: %v", what, err)
		return nil
	}
	return c
}

func (d *Dump) readThreads(loc Location) {
	b, ok := d.stream("thread list", loc, 4)
	if !ok {
		return
	}
	skip := 0
	if n := int(le.Uint32(b)); len(b) == 4+4+n*threadSize { // some writers pad the count to 8 bytes
		skip = 4
	}
	n := d.countedList("thread list", b, threadSize, skip, maxThreads)
	d.Threads = make([]Thread, 0, n)
	for i := range n {
		t := b[4+skip+i*threadSize:]
		th := Thread{
			ID:        le.Uint32(t),
			StackBase: le.Uint64(t[24:]),
			Stack:     Location{le.Uint32(t[32:]), le.Uint32(t[36:])},
		}
		th.Context = d.context(Location{le.Uint32(t[40:]), le.Uint32(t[44:])}, fmt.Sprintf("thread %d", th.ID))
		d.Threads = append(d.Threads, th)
	}
}

func (d *Dump) readThreadNames(loc Location) {
	b, ok := d.stream("thread names", loc, 4)
	if !ok {
		return
	}
	n := d.countedList("thread names", b, 12, 0, maxThreads)
	for i := range n {
		e := b[4+i*12:]
		id := le.Uint32(e)
		rva := le.Uint64(e[4:])
		if rva > uint64(d.size) {
			continue
		}
		name, err := d.str(uint32(rva))
		if err != nil {
			continue
		}
		for j := range d.Threads {
			if d.Threads[j].ID == id {
				d.Threads[j].Name = name
			}
		}
	}
}

func (d *Dump) readModules(loc Location) {
	b, ok := d.stream("module list", loc, 4)
	if !ok {
		return
	}
	skip := 0
	if n := int(le.Uint32(b)); len(b) == 4+4+n*moduleSize {
		skip = 4
	}
	n := d.countedList("module list", b, moduleSize, skip, maxModules)
	d.Modules = make([]Module, 0, n)
	for i := range n {
		r := b[4+skip+i*moduleSize:]
		m := Module{
			Base:     le.Uint64(r),
			Size:     le.Uint32(r[8:]),
			Checksum: le.Uint32(r[12:]),
			TimeDate: le.Uint32(r[16:]),
		}
		name, err := d.str(le.Uint32(r[20:]))
		if err != nil {
			d.note("module %d's name: %v", i, err)
		}
		m.Name = name
		// VS_FIXEDFILEINFO at 24: signature, struct version, file version
		// MS, file version LS, ...
		if le.Uint32(r[24:]) == 0xfeef04bd {
			ms, ls := le.Uint32(r[32:]), le.Uint32(r[36:])
			m.Version = fmt.Sprintf("%d.%d.%d.%d", ms>>16, ms&0xffff, ls>>16, ls&0xffff)
		}
		cv := Location{le.Uint32(r[76:]), le.Uint32(r[80:])}
		d.readCodeView(&m, cv)
		if m.CodeID == "" && m.TimeDate != 0 && (d.System == nil || d.System.PlatformID == platformWin32NT) {
			m.CodeID = fmt.Sprintf("%08X%x", m.TimeDate, m.Size)
		}
		d.Modules = append(d.Modules, m)
	}
}

// readCodeView reads a module's CodeView record: its debug file and ids.
func (d *Dump) readCodeView(m *Module, cv Location) {
	if cv.Size < 4 {
		return
	}
	size := int64(cv.Size)
	if size > 4096 {
		size = 4096
	}
	b, err := d.bytes(int64(cv.RVA), size)
	if err != nil {
		d.note("module %s's CodeView record: %v", m.Name, err)
		return
	}
	switch le.Uint32(b) {
	case 0x53445352: // "RSDS": PDB 7.0 (also Breakpad's macOS UUIDs)
		if len(b) < 24 {
			return
		}
		m.DebugID = guidString(b[4:20]) + fmt.Sprintf("%X", le.Uint32(b[20:]))
		m.DebugFile = cString(b[24:])
	case 0x3031424e: // "NB10": PDB 2.0
		if len(b) < 16 {
			return
		}
		m.DebugID = fmt.Sprintf("%08X%X", le.Uint32(b[8:]), le.Uint32(b[12:]))
		m.DebugFile = cString(b[16:])
	case 0x4270454c: // "LEpB": an ELF build id (Breakpad)
		id := b[4:]
		m.CodeID = fmt.Sprintf("%x", id)
		var g [16]byte
		copy(g[:], id)
		m.DebugID = guidString(g[:]) + "0"
		m.DebugFile = m.Name
	}
	if m.DebugFile == "" {
		m.DebugFile = m.Name
	}
}

// guidString formats a GUID stored little-endian (Data1 uint32, Data2 and
// Data3 uint16, Data4 bytes) as Breakpad does: 32 upper-case hex digits.
func guidString(g []byte) string {
	return fmt.Sprintf("%08X%04X%04X%X", le.Uint32(g), le.Uint16(g[4:]), le.Uint16(g[6:]), g[8:16])
}

// uuidString is guidString with the dashes of the canonical form.
func uuidString(g []byte) string {
	s := guidString(g)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

func (d *Dump) readMemoryList(loc Location) {
	b, ok := d.stream("memory list", loc, 4)
	if !ok {
		return
	}
	skip := 0
	if n := int(le.Uint32(b)); len(b) == 4+4+n*memoryDescriptorSize {
		skip = 4
	}
	n := d.countedList("memory list", b, memoryDescriptorSize, skip, maxRanges)
	for i := range n {
		r := b[4+skip+i*memoryDescriptorSize:]
		base := le.Uint64(r)
		size := le.Uint32(r[8:])
		rva := le.Uint32(r[12:])
		if int64(rva)+int64(size) > d.size {
			d.note("memory range 0x%x+0x%x lies outside the file", base, size)
			continue
		}
		if base+uint64(size) < base {
			d.note("memory range 0x%x+0x%x wraps around", base, size)
			continue
		}
		d.Memory = append(d.Memory, MemoryRange{Base: base, Size: uint64(size), off: int64(rva)})
	}
}

func (d *Dump) readMemory64List(loc Location) {
	b, ok := d.stream("memory64 list", loc, 16)
	if !ok {
		return
	}
	n := le.Uint64(b)
	off := int64(le.Uint64(b[8:]))
	room := uint64(len(b)-16) / 16
	if n > room {
		d.note("the memory64 list claims %d ranges but holds %d", n, room)
		n = room
	}
	for i := range int(min(n, maxRanges)) {
		r := b[16+i*16:]
		base, size := le.Uint64(r), le.Uint64(r[8:])
		if off < 0 || size > uint64(d.size) || off+int64(size) > d.size || base+size < base {
			d.note("memory64 range 0x%x+0x%x lies outside the file", base, size)
			return // later ranges' offsets depend on this one
		}
		d.Memory = append(d.Memory, MemoryRange{Base: base, Size: size, off: off})
		off += int64(size)
	}
}

func (d *Dump) readMiscInfo(loc Location) {
	b, ok := d.stream("misc info", loc, 24)
	if !ok {
		return
	}
	flags := le.Uint32(b[4:])
	if flags&1 != 0 {
		d.ProcessID = le.Uint32(b[8:])
	}
	if flags&2 != 0 {
		if t := le.Uint32(b[12:]); t != 0 {
			d.ProcessCreateTime = time.Unix(int64(t), 0).UTC()
		}
	}
}

func (d *Dump) readBreakpadInfo(loc Location) {
	b, ok := d.stream("Breakpad info", loc, 12)
	if !ok {
		return
	}
	valid := le.Uint32(b)
	d.HasDumpThread = valid&1 != 0
	d.HasRequesting = valid&2 != 0
	d.DumpThreadID = le.Uint32(b[4:])
	d.RequestingThreadID = le.Uint32(b[8:])
}

func (d *Dump) readAssertion(loc Location) {
	b, ok := d.stream("assertion", loc, assertionStreamSize)
	if !ok {
		return
	}
	d.Assertion = &Assertion{
		Expression: utf16String(b[0:256]),
		Function:   utf16String(b[256:512]),
		File:       utf16String(b[512:768]),
		Line:       le.Uint32(b[768:]),
		Type:       le.Uint32(b[772:]),
	}
}

func (d *Dump) readLinux(typ uint32, loc Location) {
	if d.Linux == nil {
		d.Linux = &LinuxInfo{}
	}
	l := d.Linux
	switch typ {
	case streamLinuxAuxv:
		l.HasAuxv = true
		return
	case streamLinuxDSODebug:
		l.HasDSO = true
		return
	}
	size := min(loc.Size, maxTextStream)
	b, err := d.bytes(int64(loc.RVA), int64(size))
	if err != nil {
		d.note("a Linux stream (0x%x): %v", typ, err)
		return
	}
	text := strings.ToValidUTF8(string(b), "\uFFFD")
	switch typ {
	case streamLinuxCPUInfo:
		l.CPUInfo = text
	case streamLinuxProcStatus:
		l.ProcStatus = text
	case streamLinuxLSBRelease:
		l.LSBRelease = text
	case streamLinuxCmdLine:
		l.CmdLine = strings.TrimRight(strings.ReplaceAll(text, "\x00", " "), " ")
	case streamLinuxEnviron:
		l.Environ = text
	case streamLinuxMaps:
		l.Maps = d.parseMaps(text)
	}
}

// parseMaps reads /proc/self/maps lines; a line whose range runs backwards
// or does not parse is left out with a note.
func (d *Dump) parseMaps(text string) []MapsEntry {
	var out []MapsEntry
	bad := 0
	defer func() {
		if bad > 0 {
			d.note("Linux maps: %d lines do not parse", bad)
		}
	}()
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		lo, hi, ok := strings.Cut(f[0], "-")
		var start, end uint64
		if ok {
			_, err1 := fmt.Sscanf(lo, "%x", &start)
			_, err2 := fmt.Sscanf(hi, "%x", &end)
			ok = err1 == nil && err2 == nil
		}
		if !ok {
			bad++
			continue
		}
		if end < start {
			d.note("Linux maps: the range %s runs backwards", f[0])
			continue
		}
		e := MapsEntry{Start: start, End: end}
		if len(f) > 1 {
			e.Perms = f[1]
		}
		if len(f) > 5 {
			e.Path = strings.Join(f[5:], " ")
		}
		out = append(out, e)
		if len(out) >= maxModules {
			break
		}
	}
	return out
}

func isWord(s string) bool {
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return len(s) >= 4
}

func (d *Dump) readException(loc Location) {
	b, ok := d.stream("exception", loc, exceptionStreamSize)
	if !ok {
		return
	}
	e := &Exception{
		ThreadID: le.Uint32(b),
		Code:     le.Uint32(b[8:]),
		Flags:    le.Uint32(b[12:]),
		Address:  le.Uint64(b[24:]),
	}
	np := min(le.Uint32(b[32:]), 15)
	for i := range int(np) {
		e.Params = append(e.Params, le.Uint64(b[40+8*i:]))
	}
	e.Context = d.context(Location{le.Uint32(b[160:]), le.Uint32(b[164:])}, "the exception")
	d.Exception = e
}

func (d *Dump) readCrashpad(loc Location) {
	b, ok := d.stream("Crashpad info", loc, crashpadInfoSize)
	if !ok {
		return
	}
	c := &CrashpadInfo{
		ReportID: uuidString(b[4:20]),
		ClientID: uuidString(b[20:36]),
	}
	c.SimpleAnnotations = d.dictionary(Location{le.Uint32(b[36:]), le.Uint32(b[40:])}, "Crashpad simple annotations")
	ml := Location{le.Uint32(b[44:]), le.Uint32(b[48:])}
	if ml.Size >= 4 {
		lb, err := d.bytes(int64(ml.RVA), int64(ml.Size))
		if err != nil {
			d.note("the Crashpad module list: %v", err)
		} else {
			n := d.countedList("Crashpad module list", lb, 12, 0, maxModules)
			for i := range n {
				link := lb[4+i*12:]
				cm := CrashpadModule{ModuleIndex: le.Uint32(link)}
				d.crashpadModule(&cm, Location{le.Uint32(link[4:]), le.Uint32(link[8:])})
				c.Modules = append(c.Modules, cm)
			}
		}
	}
	d.Crashpad = c
}

func (d *Dump) crashpadModule(cm *CrashpadModule, loc Location) {
	if loc.Size < 28 {
		return
	}
	b, err := d.bytes(int64(loc.RVA), int64(min(loc.Size, 4096)))
	if err != nil {
		d.note("a Crashpad module info: %v", err)
		return
	}
	lists := Location{le.Uint32(b[4:]), le.Uint32(b[8:])}
	if lists.Size >= 4 {
		if lb, err := d.bytes(int64(lists.RVA), int64(lists.Size)); err == nil {
			n := d.countedList("Crashpad list annotations", lb, 4, 0, 1024)
			for i := range n {
				if s, err := d.utf8str(le.Uint32(lb[4+4*i:])); err == nil {
					cm.ListAnnotations = append(cm.ListAnnotations, s)
				}
			}
		}
	}
	cm.SimpleAnnotations = d.dictionary(Location{le.Uint32(b[12:]), le.Uint32(b[16:])}, "Crashpad module annotations")
	objs := Location{le.Uint32(b[20:]), le.Uint32(b[24:])}
	if objs.Size >= 4 {
		if ob, err := d.bytes(int64(objs.RVA), int64(objs.Size)); err == nil {
			n := d.countedList("Crashpad annotation objects", ob, 12, 0, 1024)
			for i := range n {
				o := ob[4+12*i:]
				if le.Uint16(o[4:]) != 1 { // string annotations only
					continue
				}
				name, err1 := d.utf8str(le.Uint32(o))
				val, err2 := d.utf8str(le.Uint32(o[8:]))
				if err1 == nil && err2 == nil {
					if cm.Annotations == nil {
						cm.Annotations = map[string]string{}
					}
					cm.Annotations[name] = val
				}
			}
		}
	}
}

// dictionary reads a MinidumpSimpleStringDictionary.
func (d *Dump) dictionary(loc Location, what string) map[string]string {
	if loc.Size < 4 {
		return nil
	}
	b, err := d.bytes(int64(loc.RVA), int64(loc.Size))
	if err != nil {
		d.note("the %s: %v", what, err)
		return nil
	}
	n := d.countedList(what, b, 8, 0, 1024)
	m := make(map[string]string, n)
	for i := range n {
		e := b[4+8*i:]
		k, err1 := d.utf8str(le.Uint32(e))
		v, err2 := d.utf8str(le.Uint32(e[4:]))
		if err1 == nil && err2 == nil {
			m[k] = v
		}
	}
	return m
}

// readMacCrashInfo reads the macOS crash info stream (Breakpad/Firefox's
// MDRawMacCrashInfo): a header with a record count and up to 20 record
// locations. A count over that or over what the stream holds is noted and
// the stream refused.
func (d *Dump) readMacCrashInfo(loc Location) {
	b, ok := d.stream("macOS crash info", loc, macCrashInfoHeaderSize)
	if !ok {
		return
	}
	n := le.Uint32(b[4:])
	const maxRecords = 20
	room := uint32(len(b)-macCrashInfoHeaderSize) / 8
	if n > maxRecords || n > room {
		d.note("the macOS crash info stream claims %d records but holds %d", n, min(room, maxRecords))
		return
	}
	for i := range int(n) {
		r := b[macCrashInfoHeaderSize+8*i:]
		rl := Location{le.Uint32(r), le.Uint32(r[4:])}
		rb, err := d.bytes(int64(rl.RVA), int64(min(rl.Size, 8192)))
		if err != nil {
			d.note("a macOS crash info record: %v", err)
			continue
		}
		// Fixed fields, then NUL-separated strings (module path, message,
		// signature, backtrace, message2).
		const fixed = 4 + 8*4
		if len(rb) <= fixed {
			continue
		}
		for s := range strings.SplitSeq(string(rb[fixed:]), "\x00") {
			if s = strings.TrimSpace(s); s != "" && !strings.HasPrefix(s, "/") {
				d.MacCrashInfo = append(d.MacCrashInfo, strings.ToValidUTF8(s, "\uFFFD"))
			}
		}
	}
}

// ReadMemory returns n bytes of the process's memory at addr, if the dump
// captured all of them in one range.
func (d *Dump) ReadMemory(addr uint64, n int) ([]byte, bool) {
	for _, r := range d.Memory {
		if addr >= r.Base && addr-r.Base < r.Size && uint64(n) <= r.Size-(addr-r.Base) {
			b, err := d.bytes(r.off+int64(addr-r.Base), int64(n))
			return b, err == nil
		}
	}
	return nil, false
}

// ThreadStack returns a thread's captured stack memory (at most max bytes)
// and its lowest address.
func (d *Dump) ThreadStack(t *Thread, max int) (mem []byte, base uint64) {
	size := int64(t.Stack.Size)
	if size > int64(max) {
		size = int64(max)
	}
	b, err := d.bytes(int64(t.Stack.RVA), size)
	if err != nil {
		return nil, 0
	}
	return b, t.StackBase
}

// ModuleAt returns the module that contains addr, or nil.
func (d *Dump) ModuleAt(addr uint64) *Module {
	if d.byBase == nil {
		d.byBase = make([]int32, len(d.Modules))
		for i := range d.byBase {
			d.byBase[i] = int32(i)
		}
		xsort.SortFunc(d.byBase, func(a, b int32) int { return cmp.Compare(d.Modules[a].Base, d.Modules[b].Base) })
	}
	// The last module starting at or below addr; modules do not overlap
	// in a sane dump, and a few steps back cover those that do.
	i, _ := slices.BinarySearchFunc(d.byBase, addr, func(m int32, a uint64) int {
		if d.Modules[m].Base <= a {
			return -1
		}
		return 1
	})
	for j := i - 1; j >= 0 && j >= i-4; j-- {
		if m := &d.Modules[d.byBase[j]]; m.Contains(addr) {
			return m
		}
	}
	return nil
}

// CrashingThread returns the index of the thread that crashed (or asked
// for the dump), or -1.
func (d *Dump) CrashingThread() int {
	if d.Exception != nil {
		for i := range d.Threads {
			if d.Threads[i].ID == d.Exception.ThreadID {
				return i
			}
		}
	}
	if d.HasRequesting {
		for i := range d.Threads {
			if d.Threads[i].ID == d.RequestingThreadID {
				return i
			}
		}
	}
	return -1
}
