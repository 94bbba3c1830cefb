package release

import (
	"slices"
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	long := strings.Repeat("a", 250)
	longRunes := strings.Repeat("é", 250)
	for _, tt := range []struct {
		name, in, want string
	}{
		{"plain", "1.2.3", "1.2.3"},
		{"empty is no release", "", ""},
		{"newline and tab removed", "1.2\n.3\t", "1.2.3"},
		{"carriage return removed", "abc\r\n", "abc"},
		{"slashes removed", "feature/x\\y", "featurexy"},
		{"spaces kept", " 1.2.3 ", " 1.2.3 "},
		{"inner space kept", "my app", "my app"},
		{"single space", " ", "sanitized"},
		{"two spaces kept", "  ", "  "},
		{"dot", ".", "sanitized"},
		{"dot dot", "..", "sanitized"},
		{"dot dot after removal", "./.", "sanitized"},
		{"three dots kept", "...", "..."},
		{"only removed characters", "/\t", "sanitized"},
		{"cut to 200 bytes", long, long[:200]},
		{"cut to 200 characters, not bytes", longRunes, strings.Repeat("é", 200)},
		{"200 exactly", long[:200], long[:200]},
	} {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("%s: Sanitize(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in                  string
		semver              bool
		pkg                 string
		major, minor, patch string
		pre                 []string
		build               string
	}{
		{in: "1.2.3", semver: true, major: "1", minor: "2", patch: "3"},
		{in: "0.0.0", semver: true, major: "0", minor: "0", patch: "0"},
		{in: "10.20.30", semver: true, major: "10", minor: "20", patch: "30"},
		{in: "1.0.0-rc1", semver: true, major: "1", minor: "0", patch: "0", pre: []string{"rc1"}},
		{in: "1.0.0-rc.1", semver: true, major: "1", minor: "0", patch: "0", pre: []string{"rc", "1"}},
		{in: "1.0.0-alpha-beta.0", semver: true, major: "1", minor: "0", patch: "0", pre: []string{"alpha-beta", "0"}},
		{in: "1.0.0+20240301", semver: true, major: "1", minor: "0", patch: "0", build: "20240301"},
		{in: "1.0.0-rc.1+build.5", semver: true, major: "1", minor: "0", patch: "0", pre: []string{"rc", "1"}, build: "build.5"},
		{in: "1.0.0+build-01.007", semver: true, major: "1", minor: "0", patch: "0", build: "build-01.007"},
		{in: "myapp@1.2.3", semver: true, pkg: "myapp", major: "1", minor: "2", patch: "3"},
		{in: "com.example.app@2.0.0+45", semver: true, pkg: "com.example.app", major: "2", minor: "0", patch: "0", build: "45"},
		{in: "@scopepkg@1.0.0", semver: true, pkg: "@scopepkg", major: "1", minor: "0", patch: "0"},
		{in: "99999999999999999999999.0.0", semver: true, major: "99999999999999999999999", minor: "0", patch: "0"},

		{in: "myapp@abc123", pkg: "myapp"},
		{in: "app@", pkg: "app"},
		{in: ""},
		{in: "1.0"},
		{in: "1"},
		{in: "1.2.3.4"},
		{in: "v1.2.3"},
		{in: "01.2.3"},
		{in: "1.02.3"},
		{in: "1.2.3-"},
		{in: "1.2.3-rc..1"},
		{in: "1.2.3-01"},
		{in: "1.2.3-rc_1"},
		{in: "1.2.3+"},
		{in: "1.2.3+a..b"},
		{in: "1.2.3+a+b"},
		{in: " 1.2.3"},
		{in: "1.2.3 "},
		{in: "abc123"},
		{in: "2f5e3c1d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"},
		{in: "2024.03.01"},
		{in: "2024-03-01"},
		{in: "latest"},
	} {
		v := Parse(tt.in)
		if v.Raw != tt.in || v.Semver != tt.semver || v.Package != tt.pkg || v.Major != tt.major ||
			v.Minor != tt.minor || v.Patch != tt.patch || !slices.Equal(v.Prerelease, tt.pre) || v.Build != tt.build {
			t.Errorf("Parse(%q) = %+v, want semver %v package %q %s.%s.%s pre %q build %q",
				tt.in, v, tt.semver, tt.pkg, tt.major, tt.minor, tt.patch, tt.pre, tt.build)
		}
		if got := IsSemver(tt.in); got != tt.semver {
			t.Errorf("IsSemver(%q) = %v, want %v", tt.in, got, tt.semver)
		}
	}
}

func TestCompareSemver(t *testing.T) {
	// Each line is strictly lower than the next, except where equal says so.
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "2.0.0", -1},
		{"2.0.0", "2.1.0", -1},
		{"2.1.0", "2.1.1", -1},
		{"1.9.0", "1.10.0", -1},
		{"1.0.0-rc1", "1.0.0", -1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0-rc10", "1.0.0-rc2", -1}, // alphanumeric: ASCII order
		{"1.0.0-1", "1.0.0-a", -1},      // numeric below alphanumeric
		{"1.0.0-Z", "1.0.0-a", -1},      // ASCII: upper case first
		{"9999999999999999999.0.0", "10000000000000000000.0.0", -1},
		{"1.0.0+1", "1.0.0+2", 0},
		{"1.0.0", "1.0.0+build", 0},
		{"myapp@1.0.0", "1.0.0", 0},
		{"a@1.0.0", "b@0.9.0", 1},
		{"1.0.0", "1.0.0", 0},
		{"2.0.0", "1.0.0", 1},
		{"1.0.0", "1.0.0-rc1", 1},
	} {
		a, b := Parse(tt.a), Parse(tt.b)
		if !a.Semver || !b.Semver {
			t.Fatalf("bad test: %q or %q is not semver", tt.a, tt.b)
		}
		if got := CompareSemver(a, b); got != tt.want {
			t.Errorf("CompareSemver(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareSemver(b, a); got != -tt.want {
			t.Errorf("CompareSemver(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestShort(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"1.2.3-rc.1+build.2024.03.01", "1.2.3-rc.1+build.2024.03.01"},
		{"myapp@1.2.3", "myapp@1.2.3"},
		{"2f5e3c1d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d", "2f5e3c1d9a8b"},
		{"abc123", "abc123"},
		{"ééééééééééééééé", "éééééééééééé"},
		{"", ""},
	} {
		if got := Short(tt.in); got != tt.want {
			t.Errorf("Short(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
