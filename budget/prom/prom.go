// Package prom writes the Prometheus text exposition format (version
// 0.0.4), for the server's and the relay's /metrics.
package prom

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"time"
)

// ContentType is the Content-Type of what a Writer writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Writer collects metric families: per family a # HELP and a # TYPE line,
// then its samples.
type Writer struct {
	b bytes.Buffer
}

// Bytes returns what was written.
func (p *Writer) Bytes() []byte { return p.b.Bytes() }

// Family starts a metric family; typ is counter or gauge.
func (p *Writer) Family(name, typ, help string) {
	p.b.WriteString("# HELP ")
	p.b.WriteString(name)
	p.b.WriteByte(' ')
	p.b.WriteString(helpEscaper.Replace(help))
	p.b.WriteString("\n# TYPE ")
	p.b.WriteString(name)
	p.b.WriteByte(' ')
	p.b.WriteString(typ)
	p.b.WriteByte('\n')
}

// Sample writes one sample of the current family; labels are name, value
// pairs.
func (p *Writer) Sample(name string, v float64, labels ...string) {
	p.b.WriteString(name)
	if len(labels) > 0 {
		p.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.b.WriteByte(',')
			}
			p.b.WriteString(labels[i])
			p.b.WriteString(`="`)
			p.b.WriteString(labelEscaper.Replace(labels[i+1]))
			p.b.WriteByte('"')
		}
		p.b.WriteByte('}')
	}
	p.b.WriteByte(' ')
	p.b.WriteString(formatValue(v))
	p.b.WriteByte('\n')
}

// One writes a family with a single unlabelled sample.
func (p *Writer) One(name, typ, help string, v float64) {
	p.Family(name, typ, help)
	p.Sample(name, v)
}

// Unix is t in Unix seconds, 0 for the zero time.
func Unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
