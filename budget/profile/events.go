package profile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// sampleEvent returns a realistic ~14 KB Python error event: 16 frames with
// source context and local variables, 20 breadcrumbs, a browser request,
// contexts and tags. n picks one of ten exception types, so the events
// fall into ten issues.
func sampleEvent(n int) []byte {
	var id [16]byte
	rand.Read(id[:])
	types := []string{"KeyError", "ValueError", "TypeError", "ZeroDivisionError", "AttributeError",
		"IndexError", "RuntimeError", "ConnectionError", "TimeoutError", "PermissionError"}
	typ := types[n%len(types)]
	var b strings.Builder
	fmt.Fprintf(&b, `{"event_id":"%s","timestamp":%d.%03d,"platform":"python","level":"error",`,
		hex.EncodeToString(id[:]), time.Now().Unix(), n%1000)
	b.WriteString(`"server_name":"web-1","release":"shop@2.4.1","environment":"production",`)
	b.WriteString(`"transaction":"/checkout/{cart_id}","logger":"shop.checkout",`)
	fmt.Fprintf(&b, `"exception":{"values":[{"type":"%s","value":"order %d could not be processed for user@example.com","module":"shop.checkout","mechanism":{"type":"django","handled":false},"stacktrace":{"frames":[`, typ, n)
	for f := range 16 {
		if f > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"filename":"shop/checkout/step_%d.py","abs_path":"/srv/shop/shop/checkout/step_%d.py","function":"handle_step_%d","module":"shop.checkout.step_%d","lineno":%d,"in_app":%t,`, f, f, f, f, 40+f, f > 8)
		b.WriteString(`"pre_context":["    def handle(self, request, cart_id):","        cart = Cart.objects.get(pk=cart_id)","        total = cart.total()"],`)
		b.WriteString(`"context_line":"        result = self.process(cart, total, request.user)",`)
		b.WriteString(`"post_context":["        if not result.ok:","            raise CheckoutFailed(result.reason)","        return result"],`)
		fmt.Fprintf(&b, `"vars":{"self":"<CheckoutStep%d object at 0x7f3a2c1b8d60>","cart_id":"'%d'","total":"Decimal('129.95')"}}`, f, n)
	}
	b.WriteString(`]}}]},"breadcrumbs":{"values":[`)
	for c := range 20 {
		if c > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"timestamp":%d,"type":"http","category":"httplib","level":"info","data":{"method":"GET","url":"https://api.example.com/v1/items/%d","status_code":200}}`, time.Now().Unix()-int64(20-c), c)
	}
	b.WriteString(`]},"request":{"url":"https://shop.example.com/checkout/42","method":"POST",`)
	b.WriteString(`"headers":{"User-Agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36","Accept":"text/html","Accept-Language":"en-GB,en;q=0.9"},`)
	b.WriteString(`"query_string":"step=pay","data":{"card":"[Filtered]","amount":"129.95"}},`)
	b.WriteString(`"user":{"id":"4711","email":"user@example.com","ip_address":"203.0.113.7"},`)
	b.WriteString(`"contexts":{"runtime":{"name":"CPython","version":"3.12.3"},"os":{"name":"Linux","version":"6.1"},"trace":{"trace_id":"4fa054fa13fd5e3f56d1ad6e9ca783dc","span_id":"8f3a2c1b8d60aa01"}},`)
	b.WriteString(`"tags":{"customer_tier":"gold","region":"eu-west"},`)
	b.WriteString(`"sdk":{"name":"sentry.python.django","version":"2.18.0"}}`)
	return []byte(b.String())
}

// envelope wraps an event in an envelope with a length header.
func envelope(ev []byte) []byte {
	id := ev[len(`{"event_id":"`) : len(`{"event_id":"`)+32]
	return fmt.Appendf(nil, "{\"event_id\":\"%s\"}\n{\"type\":\"event\",\"length\":%d}\n%s\n", id, len(ev), ev)
}
