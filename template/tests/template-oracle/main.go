// Command template-oracle renders the engine-level golden template cases with
// Go's real text/template, exactly as External Secrets Operator does: the data
// context is a map[string]string and the template runs with missingkey=error.
//
// Only the Go standard library is used: text/template builtins plus the sprig
// functions that are one-line wrappers over the standard library
// (sprig_stdlib.go). It runs only the cases marked "oracle": true.
//
// Usage:
//
//	cd tests/template-oracle && go run . ../templates/engine.json         # check
//	cd tests/template-oracle && go run . -write ../templates/engine.json  # regenerate
//
// Check mode exits non-zero when a recorded expectation differs from Go.
// Write mode stores Go's bytes in "expected" (or Go's error text in
// "go_error" for cases that fail in Go, keeping the case's "error" substring).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/template"
)

// Case mirrors one entry of a golden corpus file. Fields the oracle does not
// understand are not preserved, so the corpus uses only these.
type Case struct {
	Name       string            `json:"name"`
	Oracle     bool              `json:"oracle,omitempty"`
	Template   string            `json:"template"`
	Data       map[string]string `json:"data,omitempty"`
	DataBase64 map[string]string `json:"data_base64,omitempty"`
	Scope      string            `json:"scope,omitempty"`
	Expected   json.RawMessage   `json:"expected,omitempty"`
	ExpectedB  *string           `json:"expected_base64,omitempty"`
	ExpectedRe *string           `json:"expected_regex,omitempty"`
	Error      *string           `json:"error,omitempty"`
	GoError    *string           `json:"go_error,omitempty"`
	Note       string            `json:"note,omitempty"`
}

// render executes one template the way ESO's engine v2 does.
func render(c Case) (string, error) {
	t, err := template.New(c.Name).Option("missingkey=error").Funcs(sprigStdlib).Parse(c.Template)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	data := map[string]string{}
	for k, v := range c.Data {
		data[k] = v
	}
	if err := t.Execute(&buf, data); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func main() {
	write := flag.Bool("write", false, "store Go's results in the file instead of checking them")
	flag.Parse()
	failed := 0
	for _, path := range flag.Args() {
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var cases []Case
		if err := json.Unmarshal(raw, &cases); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(2)
		}
		for i := range cases {
			c := &cases[i]
			if !c.Oracle {
				continue
			}
			out, err := render(*c)
			switch {
			case *write && err == nil:
				raw := rawString(out)
				c.Expected, c.GoError, c.Error = raw, nil, nil
			case *write:
				msg := err.Error()
				c.Expected, c.GoError = nil, &msg
				if c.Error == nil {
					empty := ""
					c.Error = &empty
				}
			case err != nil && c.Error == nil:
				failed++
				fmt.Printf("FAIL %s: Go errors (%v) but the case expects output\n", c.Name, err)
			case err == nil && !sameString(c.Expected, out):
				failed++
				fmt.Printf("FAIL %s: Go renders %q\n", c.Name, out)
			default:
				fmt.Printf("ok   %s\n", c.Name)
			}
		}
		if *write {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(cases); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Printf("wrote %s (%d cases)\n", path, len(cases))
		}
	}
	if failed > 0 {
		fmt.Printf("%d case(s) differ from Go\n", failed)
		os.Exit(1)
	}
}

// sameString reports whether a JSON "expected" value is the string s.
func sameString(raw json.RawMessage, s string) bool {
	var want string
	return raw != nil && json.Unmarshal(raw, &want) == nil && want == s
}

// rawString encodes s as JSON without HTML escaping.
func rawString(s string) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return json.RawMessage(bytes.TrimSpace(buf.Bytes()))
}
