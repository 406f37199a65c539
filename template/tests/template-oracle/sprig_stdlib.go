package main

// The subset of sprig v3's functions that are one-line wrappers over the Go
// standard library, defined here exactly as sprig defines them, so that the
// oracle can render function cases with Go's own string, encoding, JSON,
// path, regexp, hash and time code. Cases using any other function are not
// marked "oracle" and keep hand-written expectations (sprig docs, vectors).

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/adler32"
	"path"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

func strval(v interface{}) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprintf("%v", v)
	}
}

func strslice(v interface{}) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []interface{}:
		b := make([]string, 0, len(v))
		for _, s := range v {
			if s != nil {
				b = append(b, strval(s))
			}
		}
		return b
	case nil:
		return []string{}
	default:
		return []string{strval(v)}
	}
}

func joinNonNil(v []interface{}, f func(string) string) string {
	out := []string{}
	for _, s := range v {
		if s != nil {
			out = append(out, f(strval(s)))
		}
	}
	return strings.Join(out, " ")
}

var sprigStdlib = template.FuncMap{
	"b64enc": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"b64dec": func(s string) string {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return err.Error()
		}
		return string(b)
	},
	"b32enc": func(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) },
	"b32dec": func(s string) string {
		b, err := base32.StdEncoding.DecodeString(s)
		if err != nil {
			return err.Error()
		}
		return string(b)
	},
	"upper":      strings.ToUpper,
	"lower":      strings.ToLower,
	"title":      strings.Title,
	"trim":       strings.TrimSpace,
	"trimAll":    func(a, b string) string { return strings.Trim(b, a) },
	"trimSuffix": func(a, b string) string { return strings.TrimSuffix(b, a) },
	"trimPrefix": func(a, b string) string { return strings.TrimPrefix(b, a) },
	"repeat":     func(count int, str string) string { return strings.Repeat(str, count) },
	"contains":   func(substr string, str string) bool { return strings.Contains(str, substr) },
	"hasPrefix":  func(substr string, str string) bool { return strings.HasPrefix(str, substr) },
	"hasSuffix":  func(substr string, str string) bool { return strings.HasSuffix(str, substr) },
	"replace":    func(old, new, src string) string { return strings.Replace(src, old, new, -1) },
	"quote": func(str ...interface{}) string {
		return joinNonNil(str, func(s string) string { return fmt.Sprintf("%q", s) })
	},
	"squote": func(str ...interface{}) string {
		return joinNonNil(str, func(s string) string { return "'" + s + "'" })
	},
	"cat": func(v ...interface{}) string { return joinNonNil(v, func(s string) string { return s }) },
	"indent": func(n int, v string) string {
		p := strings.Repeat(" ", n)
		return p + strings.Replace(v, "\n", "\n"+p, -1)
	},
	"nindent": func(n int, v string) string {
		p := strings.Repeat(" ", n)
		return "\n" + p + strings.Replace(v, "\n", "\n"+p, -1)
	},
	"toString":  strval,
	"splitList": func(sep, orig string) []string { return strings.Split(orig, sep) },
	"join":      func(sep string, v interface{}) string { return strings.Join(strslice(v), sep) },
	"list":      func(v ...interface{}) []interface{} { return v },
	"toJson": func(v interface{}) string {
		out, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(out)
	},
	"toRawJson": func(v interface{}) string {
		buf := new(bytes.Buffer)
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&v); err != nil {
			return ""
		}
		return strings.TrimSuffix(buf.String(), "\n")
	},
	"dict": func(v ...interface{}) map[string]interface{} {
		dict := map[string]interface{}{}
		for i := 0; i < len(v); i += 2 {
			key := strval(v[i])
			if i+1 >= len(v) {
				dict[key] = ""
				continue
			}
			dict[key] = v[i+1]
		}
		return dict
	},
	"toPrettyJson": func(v interface{}) string {
		out, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return ""
		}
		return string(out)
	},
	"fromJson": func(v string) interface{} {
		var output interface{}
		_ = json.Unmarshal([]byte(v), &output)
		return output
	},
	"sha1sum":    func(s string) string { h := sha1.Sum([]byte(s)); return hex.EncodeToString(h[:]) },
	"sha256sum":  func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
	"sha512sum":  func(s string) string { h := sha512.Sum512([]byte(s)); return hex.EncodeToString(h[:]) },
	"adler32sum": func(s string) string { return fmt.Sprintf("%d", adler32.Checksum([]byte(s))) },
	"regexMatch": func(re, s string) bool { m, _ := regexp.MatchString(re, s); return m },
	"regexFind":  func(re, s string) string { return regexp.MustCompile(re).FindString(s) },
	"regexFindAll": func(re, s string, n int) []string {
		return regexp.MustCompile(re).FindAllString(s, n)
	},
	"regexReplaceAll": func(re, s, repl string) string {
		return regexp.MustCompile(re).ReplaceAllString(s, repl)
	},
	"regexReplaceAllLiteral": func(re, s, repl string) string {
		return regexp.MustCompile(re).ReplaceAllLiteralString(s, repl)
	},
	"regexSplit":     func(re, s string, n int) []string { return regexp.MustCompile(re).Split(s, n) },
	"regexQuoteMeta": regexp.QuoteMeta,
	"base":           path.Base,
	"dir":            path.Dir,
	"clean":          path.Clean,
	"ext":            path.Ext,
	"isAbs":          path.IsAbs,
	"atoi":           func(a string) int { i, _ := strconv.Atoi(a); return i },
	"date": func(fmt string, date interface{}) string {
		var t time.Time
		switch d := date.(type) {
		case int:
			t = time.Unix(int64(d), 0)
		case int64:
			t = time.Unix(d, 0)
		default:
			t = time.Now()
		}
		return t.UTC().Format(fmt)
	},
	"duration": func(sec interface{}) string {
		var n int64
		switch v := sec.(type) {
		case string:
			n, _ = strconv.ParseInt(v, 10, 64)
		case int64:
			n = v
		}
		return (time.Duration(n) * time.Second).String()
	},
}
