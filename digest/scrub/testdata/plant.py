#!/usr/bin/env python3
"""Writes planted/*.json and planted/secrets.tsv: real sample events from
../../event/testdata/events with secrets planted in them. Run from this
directory: python3 plant.py"""
import json, os

EVENTS = "../../event/testdata/events/"
F = "exception.values.0.stacktrace.frames.-1"

PLANTS = {
 "python/glitchtip_django_template_error.json": [
  ("exception.values.0.value", "Payment failed for card 4111 1111 1111 1111 (retry)", "4111 1111 1111 1111"),
  ("transaction", "/reset/?token=rst0k3n9x2", "rst0k3n9x2"),
  ("tags.api_key", "tg4pik3y77", "tg4pik3y77"),
  ("tags.checkout", "card 5500-0000-0000-0004 declined", "5500-0000-0000-0004"),
  ("tags.callback", "https://x.example/cb?api_key=cbk3y55", "cbk3y55"),
  (F + ".context_line", '    STRIPE = "sk_live_51HxYzAbCdEfGh12345678"', "sk_live_51HxYzAbCdEfGh12345678"),
  (F + ".pre_context.0", '    password = "Tr0ub4dor&3"', "Tr0ub4dor&3"),
  (F + ".post_context.0", '    db = connect("postgres://app:pgpassw0rd@db.internal/app")', "pgpassw0rd"),
  (F + ".vars.pass", "'varpass1x'", "varpass1x"),
  (F + ".vars.pwd", "'varpwd22y'", "varpwd22y"),
  (F + ".vars.pin", "'739184'", "739184"),
  (F + ".vars.cvv", "'8306'", "8306"),
  ("request.headers.X-Signature", "sha256=9f86d081884c7d65", "9f86d081884c7d65"),
  ("request.headers.X-Api-Key", "hdrapikey31", "hdrapikey31"),
  ("request.headers.Authorization", "Basic YWRtaW46c2VjcmV0cGFzcw==", "YWRtaW46c2VjcmV0cGFzcw=="),
  ("request.query_string", "page=2&key=AIzaSyB1234567890abcdefghijklmnopqrstuv", "AIzaSyB1234567890abcdefghijklmnopqrstuv"),
  ("request.data", "user=bob&cvv=9172&amount=3", "9172"),
  ("extra.sig", "c2lnbmF0dXJlc2VjcmV0", "c2lnbmF0dXJlc2VjcmV0"),
  ("extra.note", "AWS AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE"),
  ("contexts.app.deploy_key_pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM\n-----END RSA PRIVATE KEY-----\n", "MIIEpQIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM"),
  ("user", {"id": "42", "ssn": "078-05-1120"}, "078-05-1120"),
  ("breadcrumbs.0", {"category": "auth", "message": "POST /login password=crumbpw88 failed"}, "crumbpw88"),
 ],
 "javascript/glitchtip_js_error_with_context.json": [
  ("exception.values.0.value", "Request failed: Authorization: Bearer jsb3arer.T0ken-abc", "jsb3arer.T0ken-abc"),
  ("extra.apiKey", "jsapikey9981", "jsapikey9981"),
  ("extra.XSRFToken", "xsrfval7733", "xsrfval7733"),
  ("extra.debug", "token=dbgtok5521 next=/home", "dbgtok5521"),
  ("extra.slack", "posting with xoxb-2093847561-abcDEF123456", "xoxb-2093847561-abcDEF123456"),
  ("extra.gh", "clone with ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF", "ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF"),
  ("extra.order", "order 2024 paid with 2223 0031 2200 3222", "2223 0031 2200 3222"),
  ("extra.rk", "restricted rk_live_9aBcDeFgHiJkLmNo", "rk_live_9aBcDeFgHiJkLmNo"),
  ("breadcrumbs.0.message", "fetch https://deploy:gitpassw0rd@git.example.com/repo.git", "gitpassw0rd"),
  ("breadcrumbs.1.data.url", "/api/pay?card=4012888888881881", "4012888888881881"),
  ("user.password", "usrpw6610", "usrpw6610"),
  ("request.headers.Cookie", "theme=dark; sessionid=jssess4410", "jssess4410"),
  ("request.url", "https://app.example/cb#access_token=frag7731tok", "frag7731tok"),
  ("message", "checkout with sk_test_4eC39HqLyjWDarjtT1zdp7dc", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
  ("spans.0", {"op": "http.client", "description": "GET https://api.example.com/v1/items?api_key=spanapikey77", "data": {"auth_header": "spanauth12"}}, "spanapikey77"),
  ("spans.0.data.auth_header", "spanauth12", "spanauth12"),
  ("tags.trace_note", "user eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqc3Rlc3QifQ.c2lnbmF0dXJl", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqc3Rlc3QifQ.c2lnbmF0dXJl"),
 ],
 "php/bugsink_laravel.json": [
  ("exception.values.0.value", "SQLSTATE[28000] Access denied for mysql://laravel:lrvpassw0rd@127.0.0.1/app", "lrvpassw0rd"),
  (F + ".context_line", "        'secret' => 'lrvsecret1234',", "lrvsecret1234"),
  (F + ".pre_context.0", "    $apiKey = 'AIzaSyC9876543210zyxwvutsrqponmlkjihgfe';", "AIzaSyC9876543210zyxwvutsrqponmlkjihgfe"),
  (F + ".post_context.0", '    $token = "lrvtok3n5566";', "lrvtok3n5566"),
  ("exception.values.0.stacktrace.frames.0.context_line", "    // deploy with ghp_zY9xW8vU7tS6rQ5pO4nM3lK2jI1hG0fE", "ghp_zY9xW8vU7tS6rQ5pO4nM3lK2jI1hG0fE"),
  ("contexts.app.stripe", "sk_live_lrvstripe9876543", "sk_live_lrvstripe9876543"),
  ("tags.signature", "lrvsig5544", "lrvsig5544"),
  ("tags.cvv", "lrvcvv331", "lrvcvv331"),
  ("message", "Payment of 20 EUR with 3530 1113 3330 0000 refused", "3530 1113 3330 0000"),
  ("logentry", {"message": "login for %s with %s", "params": ["alice", "Bearer lrvB34rerTok"]}, "lrvB34rerTok"),
  ("logentry.formatted", "login for alice with pin=604719", "604719"),
  ("transaction", "POST /webhook?sig=lrvwebhooksig1", "lrvwebhooksig1"),
  ("extra.credentials", {"user": "u", "key": "lrvcredkey"}, "lrvcredkey"),
 ],
 "python/glitchtip_django_message_params.json": [
  ("message.params.foo", "card 6011 0009 9013 9424", "6011 0009 9013 9424"),
  ("message.params.password", "dparampw77", "dparampw77"),
  ("transaction", "/message/?password=dtxpw31", "dtxpw31"),
  ("tags.session_token", "dsesstok88", "dsesstok88"),
  ("request.headers.Authorization", "Token dauthtok4411", "dauthtok4411"),
  ("request.headers.Set-Cookie", "csrftoken=dcsrf9911; Path=/", "dcsrf9911"),
  ("extra.private_key", "dprivkey5577", "dprivkey5577"),
  ("extra.log", "retrying with api_key: dapikeylog22", "dapikeylog22"),
  ("breadcrumbs.values.0", {"message": "secret=dcrumbsec66", "data": {"X-Auth-Token": "dxauth77"}}, "dcrumbsec66"),
  ("breadcrumbs.values.0.data.X-Auth-Token", "dxauth77", "dxauth77"),
 ],
}

# Values that are not secrets and must come through: (sample, path, value).
KEPT = [
 ("javascript/glitchtip_js_error_with_context.json", "extra.session:duration", 1234),
 ("javascript/glitchtip_js_error_with_context.json", "extra.order_note", "order 2024-03-01 shipped to 10115 Berlin, tracking 1Z999AA10123456784"),
 ("php/bugsink_laravel.json", "extra.session", "restored"),
 ("python/glitchtip_django_template_error.json", "tags.max_tokens", "4096"),
]


def put(doc, path, value):
    parts = path.split(".")
    cur = doc
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(cur, list):
            idx = int(p)
            if idx == len(cur):
                cur.append({})
            if last:
                cur[idx] = value
            else:
                cur = cur[idx]
        else:
            if last:
                cur[p] = value
            else:
                if p not in cur or cur[p] is None:
                    cur[p] = [] if parts[i + 1].lstrip("-").isdigit() else {}
                cur = cur[p]


def main():
    rows = []
    for sample, plants in PLANTS.items():
        with open(EVENTS + sample) as f:
            text = f.read()
        doc = json.loads(text)
        for path, value, secret in plants:
            assert secret not in text, (sample, secret)
            put(doc, path, value)
            rows.append((sample, path, secret))
        for s, path, value in KEPT:
            if s == sample:
                put(doc, path, value)
        out = "planted/" + sample.replace("/", "_")
        with open(out, "w") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
    with open("planted/secrets.tsv", "w") as f:
        f.write("# sample\tfield\tsecret (must not be readable after scrubbing)\n")
        for r in rows:
            f.write("\t".join(x.replace("\n", "\\n") for x in r) + "\n")
    with open("planted/kept.tsv", "w") as f:
        f.write("# sample\tfield\tJSON value (must come through unchanged)\n")
        for s, path, value in KEPT:
            f.write("%s\t%s\t%s\n" % (s, path, json.dumps(value)))
    print(len(rows), "secrets")


main()
