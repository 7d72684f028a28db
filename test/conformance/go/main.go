// Command conformance drives the fake Claude API and the chaos proxy with the official Go SDK
// (github.com/anthropics/anthropic-sdk-go). The Go SDK decodes leniently, so this program checks
// each decoded response itself: every field tagged `api:"required"` must be present in the JSON
// (null allowed where the type is nullable) and no field may have failed to decode.
//
// Run by test/integration/go-sdk.test.ts with TARGETS ({"fake": url, "proxy": url}) and FAULTS
// ({model: {"expect", "stream", "timeout", "targets"}}). Prints one JSON line per check and a
// closing "go-sdk: N passed, N failed" line; exits 1 when a check failed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/anthropics/anthropic-sdk-go/packages/respjson"
)

const model = anthropic.Model("claude-sonnet-4-6")

type result struct {
	Target string `json:"target"`
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

var results []result

func check(target, name string, fn func() error) {
	r := result{Target: target, Check: name, OK: true}
	if err := fn(); err != nil {
		r.OK = false
		r.Detail = err.Error()
		if len(r.Detail) > 2000 {
			r.Detail = r.Detail[:2000]
		}
	}
	results = append(results, r)
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
}

var fieldType = reflect.TypeOf(respjson.Field{})

// strict reports the required fields missing from the JSON and the fields that failed to decode,
// anywhere in v (a decoded response).
func strict(v any) error {
	var problems []string
	walk(reflect.ValueOf(v), "$", &problems, 0)
	if len(problems) > 0 {
		return fmt.Errorf("strict: %s", strings.Join(problems, "; "))
	}
	return nil
}

func walk(v reflect.Value, path string, problems *[]string, depth int) {
	if depth > 12 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), path, problems, depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i), problems, depth+1)
		}
	case reflect.Struct:
		meta := v.FieldByName("JSON")
		if !meta.IsValid() || meta.Kind() != reflect.Struct {
			return
		}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			m := meta.FieldByName(f.Name)
			if !m.IsValid() || m.Type() != fieldType {
				continue
			}
			field := m.Interface().(respjson.Field)
			raw := field.Raw()
			if strings.Contains(f.Tag.Get("api"), "required") && raw == respjson.Omitted {
				*problems = append(*problems, fmt.Sprintf("%s.%s missing", path, name))
			}
			if raw != respjson.Omitted && raw != respjson.Null && !field.Valid() {
				*problems = append(*problems, fmt.Sprintf("%s.%s invalid: %.80s", path, name, raw))
			}
			if raw != respjson.Omitted && raw != respjson.Null {
				walk(v.Field(i), path+"."+name, problems, depth+1)
			}
		}
	}
}

func newClient(url string, timeout time.Duration) anthropic.Client {
	return anthropic.NewClient(
		option.WithBaseURL(url),
		option.WithAPIKey("sk-ant-test"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(timeout),
	)
}

func user(text string) []anthropic.MessageParam {
	return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}
}

var weather = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"location": map[string]any{"type": "string"}}},
}}
var timeTool = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_time",
	InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{}},
}}

func stream(c anthropic.Client, params anthropic.MessageNewParams) (anthropic.Message, error) {
	s := c.Messages.NewStreaming(context.Background(), params)
	msg := anthropic.Message{}
	for s.Next() {
		event := s.Current()
		if err := strict(event); err != nil {
			return msg, fmt.Errorf("event %s: %w", event.Type, err)
		}
		if err := msg.Accumulate(event); err != nil {
			return msg, err
		}
	}
	return msg, s.Err()
}

func expect(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

func types(m *anthropic.Message) string {
	var out []string
	for _, b := range m.Content {
		out = append(out, b.Type)
	}
	return strings.Join(out, ",")
}

func normalChecks(target, url string) {
	c := newClient(url, 10*time.Second)
	ctx := context.Background()
	base := anthropic.MessageNewParams{Model: model, MaxTokens: 256, Messages: user("Weather in Paris?")}

	check(target, "create", func() error {
		m, err := c.Messages.New(ctx, base)
		if err != nil {
			return err
		}
		if err := strict(m); err != nil {
			return err
		}
		return expect(m.StopReason == "end_turn" && types(m) == "text" && m.Usage.ServiceTier == "standard", "%s %s", m.StopReason, types(m))
	})
	check(target, "stream accumulated", func() error {
		m, err := stream(c, base)
		if err != nil {
			return err
		}
		return expect(m.StopReason == "end_turn" && types(&m) == "text" && m.Usage.OutputTokens > 1 && m.Usage.InputTokens > 0, "%s %+v", m.StopReason, m.Usage)
	})
	check(target, "tools, tool_result, tool_choice", func() error {
		p := base
		p.Tools = []anthropic.ToolUnionParam{weather}
		m, err := c.Messages.New(ctx, p)
		if err != nil {
			return err
		}
		if err := strict(m); err != nil {
			return err
		}
		if m.StopReason != "tool_use" {
			return fmt.Errorf("stop_reason %s", m.StopReason)
		}
		call := m.Content[len(m.Content)-1]
		p.Messages = append(p.Messages, m.ToParam(), anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, "Sunny", false)))
		done, err := c.Messages.New(ctx, p)
		if err != nil {
			return err
		}
		if done.StopReason != "end_turn" {
			return fmt.Errorf("the loop does not end: %s", done.StopReason)
		}
		named := base
		named.Tools = []anthropic.ToolUnionParam{weather, timeTool}
		named.ToolChoice = anthropic.ToolChoiceUnionParam{OfTool: &anthropic.ToolChoiceToolParam{Name: "get_time"}}
		s, err := stream(c, named)
		if err != nil {
			return err
		}
		if types(&s) != "tool_use" || s.Content[0].Name != "get_time" {
			return fmt.Errorf("named tool: %s", types(&s))
		}
		none := base
		none.Tools = []anthropic.ToolUnionParam{weather}
		none.ToolChoice = anthropic.ToolChoiceUnionParam{OfNone: &anthropic.ToolChoiceNoneParam{}}
		n, err := c.Messages.New(ctx, none)
		if err != nil {
			return err
		}
		return expect(types(n) == "text", "tool_choice none: %s", types(n))
	})
	check(target, "thinking", func() error {
		p := base
		p.MaxTokens = 2048
		p.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
		m, err := c.Messages.New(ctx, p)
		if err != nil {
			return err
		}
		if err := strict(m); err != nil {
			return err
		}
		s, err := stream(c, p)
		if err != nil {
			return err
		}
		return expect(types(m) == "thinking,text" && types(&s) == "thinking,text" && s.Content[0].Signature != "", "%s / %s", types(m), types(&s))
	})
	check(target, "stop sequences and max_tokens", func() error {
		p := base
		p.StopSequences = []string{"café"}
		m, err := c.Messages.New(ctx, p)
		if err != nil {
			return err
		}
		if m.StopReason != "stop_sequence" || m.StopSequence != "café" {
			return fmt.Errorf("%s %q", m.StopReason, m.StopSequence)
		}
		short := base
		short.MaxTokens = 3
		cut, err := stream(c, short)
		if err != nil {
			return err
		}
		return expect(cut.StopReason == "max_tokens" && cut.Usage.OutputTokens == 3, "%s %d", cut.StopReason, cut.Usage.OutputTokens)
	})
	check(target, "count_tokens", func() error {
		n, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: model, Messages: user("hi")})
		if err != nil {
			return err
		}
		if err := strict(n); err != nil {
			return err
		}
		return expect(n.InputTokens > 0, "input_tokens %d", n.InputTokens)
	})
	check(target, "models with paging", func() error {
		page, err := c.Models.List(ctx, anthropic.ModelListParams{Limit: anthropic.Int(100)})
		if err != nil {
			return err
		}
		var all []string
		for _, m := range page.Data {
			if err := strict(m); err != nil {
				return fmt.Errorf("%s: %w", m.ID, err)
			}
			all = append(all, m.ID)
		}
		var paged []string
		iter := c.Models.ListAutoPaging(ctx, anthropic.ModelListParams{Limit: anthropic.Int(2)})
		for iter.Next() {
			paged = append(paged, iter.Current().ID)
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if strings.Join(paged, ",") != strings.Join(all, ",") || len(all) < 3 {
			return fmt.Errorf("paged %v, all %v", paged, all)
		}
		one, err := c.Models.Get(ctx, all[0], anthropic.ModelGetParams{})
		if err != nil {
			return err
		}
		if err := strict(one); err != nil {
			return err
		}
		return expect(one.Lifecycle == "active" && one.MaxTokens > 0 && one.Capabilities.Thinking.Supported, "%+v", one)
	})
	check(target, "validation errors", func() error {
		for _, tc := range []struct {
			params anthropic.MessageNewParams
			status int
		}{
			{anthropic.MessageNewParams{Model: model, MaxTokens: 256, Messages: []anthropic.MessageParam{}}, 400},
			{anthropic.MessageNewParams{Model: "claude-nope", MaxTokens: 256, Messages: user("hi")}, 404},
		} {
			_, err := c.Messages.New(ctx, tc.params)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || !strings.HasPrefix(apiErr.RequestID, "req_") {
				return fmt.Errorf("want %d, got %v", tc.status, err)
			}
		}
		return nil
	})
}

type faultSpec struct {
	Expect  string   `json:"expect"`
	Stream  bool     `json:"stream"`
	Timeout float64  `json:"timeout"`
	Targets []string `json:"targets"`
}

// kind names how the Go SDK surfaced a failure: status:<code>, timeout, connection, decode, other.
func kind(err error) string {
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("status:%d", apiErr.StatusCode)
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return "timeout"
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || strings.Contains(err.Error(), "error parsing response json") {
		return "decode"
	}
	text := err.Error()
	if strings.Contains(text, "unexpected EOF") || strings.Contains(text, "connection reset") || strings.Contains(text, "EOF") {
		return "connection"
	}
	return "other: " + text
}

func faultChecks(target, url string, faults map[string]faultSpec) {
	for name, spec := range faults {
		if spec.Expect == "" || !contains(spec.Targets, target) {
			continue
		}
		name, spec := name, spec
		check(target, "fault "+name+" -> "+spec.Expect, func() error {
			timeout := 10 * time.Second
			if spec.Timeout > 0 {
				timeout = time.Duration(spec.Timeout * float64(time.Second))
			}
			c := newClient(url, timeout)
			p := anthropic.MessageNewParams{Model: anthropic.Model(name), MaxTokens: 256, Messages: user("hi")}
			var m *anthropic.Message
			var err error
			if spec.Stream {
				var s anthropic.Message
				s, err = stream(c, p)
				m = &s
			} else {
				m, err = c.Messages.New(context.Background(), p)
			}
			if err != nil {
				got := kind(err)
				return expect(got == spec.Expect, "got %s (%v), expected %s", got, err, spec.Expect)
			}
			if err := strict(m); err != nil {
				return expect(spec.Expect == "strict", "%v, expected %s", err, spec.Expect)
			}
			return expect(spec.Expect == "stop:"+string(m.StopReason), "stop_reason %s, expected %s", m.StopReason, spec.Expect)
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	var targets map[string]string
	var faults map[string]faultSpec
	if err := json.Unmarshal([]byte(os.Getenv("TARGETS")), &targets); err != nil {
		fmt.Fprintln(os.Stderr, "TARGETS:", err)
		os.Exit(2)
	}
	_ = json.Unmarshal([]byte(os.Getenv("FAULTS")), &faults)
	for _, target := range []string{"fake", "proxy"} {
		if url, ok := targets[target]; ok {
			normalChecks(target, url)
			faultChecks(target, url, faults)
		}
	}
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	fmt.Printf("go-sdk: %d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
