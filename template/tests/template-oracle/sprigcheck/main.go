// Command sprigcheck cross-checks the golden template corpus against real
// sprig: Go's text/template with Debian's packaged Masterminds sprig 3.2.3
// (minus env, expandenv and getHostByName, as in ESO) and ESO's toYaml /
// fromYaml over sigs.k8s.io/yaml, with missingkey=error over a
// map[string]string. It is not stdlib-only, so it lives apart from the
// oracle and is run by hand (GOPATH mode, Debian's Go sources):
//
//	apt-get install golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
//	cd tests/template-oracle/sprigcheck
//	GO111MODULE=off GOPATH=/usr/share/gocode go run . $(ls ../../templates/*.json | grep -v sandbox)
//
// With -fill as the first argument it prints Go's output (or error) for
// each case instead, to write expectations for new cases.
//
// "skip" lines use ESO's own helpers (pkcs12*, filterPEM, jwk*, …), which
// sprig lacks. Known, intended differences: htpasswd takes three arguments
// in ESO's vendored sprig (two in 3.2.3); error texts are Sesame's own.
// sandbox.json is left out: Go has no limits and runs out of memory there.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type Case struct {
	Name       string            `json:"name"`
	Oracle     bool              `json:"oracle"`
	Template   string            `json:"template"`
	Data       map[string]string `json:"data"`
	DataBase64 map[string]string `json:"data_base64"`
	Scope      string            `json:"scope"`
	Expected   json.RawMessage   `json:"expected"`
	ExpectedRe *string           `json:"expected_regex"`
	Error      *string           `json:"error"`
}

func main() {
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	delete(funcs, "getHostByName")
	funcs["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	funcs["fromYaml"] = func(str string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(str), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	write := len(os.Args) > 1 && os.Args[1] == "-fill"
	args := os.Args[1:]
	if write {
		args = args[1:]
	}
	for _, path := range args {
		raw, _ := os.ReadFile(path)
		var cases []Case
		if err := json.Unmarshal(raw, &cases); err != nil {
			fmt.Println(path, err)
			continue
		}
		for _, c := range cases {
			if c.Scope == "KeysAndValues" {
				continue
			}
			data := map[string]string{}
			for k, v := range c.Data {
				data[k] = v
			}
			for k, v := range c.DataBase64 {
				b, _ := base64.StdEncoding.DecodeString(v)
				data[k] = string(b)
			}
			t, err := template.New(c.Name).Option("missingkey=error").Funcs(funcs).Parse(c.Template)
			var out string
			if err == nil {
				var buf bytes.Buffer
				err = t.Execute(&buf, data)
				out = buf.String()
			}
			if write {
				if err != nil {
					fmt.Printf("%s\tERR\t%s\n", c.Name, err.Error())
				} else {
					j, _ := json.Marshal(out)
					fmt.Printf("%s\tOUT\t%s\n", c.Name, j)
				}
				continue
			}
			status := "ok  "
			detail := ""
			switch {
			case err != nil && strings.Contains(err.Error(), "not defined"):
				status, detail = "skip", err.Error()
			case c.Error != nil:
				if err == nil {
					status, detail = "DIFF", fmt.Sprintf("Go succeeds: %q", out)
				} else if !strings.Contains(err.Error(), *c.Error) {
					status, detail = "msg ", err.Error()
				}
			case err != nil:
				status, detail = "DIFF", "Go errors: "+err.Error()
			case c.ExpectedRe != nil:
				if !regexp.MustCompile("^(?s:" + *c.ExpectedRe + ")$").MatchString(out) {
					status, detail = "DIFF", fmt.Sprintf("Go renders %q", out)
				}
			case c.Expected != nil:
				var want string
				json.Unmarshal(c.Expected, &want)
				if want != out {
					status, detail = "DIFF", fmt.Sprintf("Go renders %q want %q", out, want)
				}
			}
			if status != "ok  " {
				if len(detail) > 300 {
					detail = detail[:300]
				}
				fmt.Printf("%s %s: %s\n", status, c.Name, detail)
			} else {
				fmt.Printf("%s %s\n", status, c.Name)
			}
		}
	}
}
