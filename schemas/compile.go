package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// BaseURL is the URL under which every embedded schema has its $id:
// BaseURL + name + ".json". Schemas refer to each other relative to it, and a
// user's schema file may $ref them by this absolute URL.
const BaseURL = "https://github.com/webhookgw/caddy-webhook-gateway/schemas/"

// resources is the sorted list of every embedded document, without the .json
// suffix; names is the part of it that users may select. A document whose name
// starts with '_' (the shared definitions) is only there to be referenced.
var resources, names = func() (all, selectable []string) {
	entries, _ := fs.Glob(files, "*.json") // fails only on a malformed pattern
	for _, e := range entries {
		name := strings.TrimSuffix(e, ".json")
		all = append(all, name)
		if !strings.HasPrefix(name, "_") {
			selectable = append(selectable, name)
		}
	}
	slices.Sort(all)
	slices.Sort(selectable)
	return all, selectable
}()

// compiled is one cache entry: an embedded schema is compiled at most once.
type compiled struct {
	once sync.Once
	sch  *jsonschema.Schema
	err  error
}

// cache maps an embedded schema name to its *compiled entry.
var cache sync.Map

// Names returns the names of the embedded schemas, sorted. Each is accepted by
// Compile, with or without a .json suffix.
func Names() []string {
	return slices.Clone(names)
}

// Compile returns the compiled schema for nameOrPath, which is either the name of
// an embedded schema (see Names; a .json suffix is allowed) or the path of a
// user's schema file: anything with a path separator, or a .json suffix that is
// not an embedded name. Schemas without $schema are read as draft 2020-12. A user
// schema may $ref the embedded ones by their $id (BaseURL + name + ".json") and
// other local files by relative path; nothing is fetched over the network.
//
// Embedded schemas are compiled once per process and the same *jsonschema.Schema
// is returned to every caller; user files are read and compiled on every call.
// Compile is safe for concurrent use, and so is validating with its result. The
// error is one line that names the schema.
func Compile(nameOrPath string) (*jsonschema.Schema, error) {
	if name, ok := embeddedName(nameOrPath); ok {
		v, _ := cache.LoadOrStore(name, new(compiled))
		c := v.(*compiled)
		c.once.Do(func() {
			comp, err := newCompiler()
			if err == nil {
				c.sch, err = comp.Compile(BaseURL + name + ".json")
			}
			if err != nil {
				c.err = fmt.Errorf("schema %q: %s", name, oneLine(err.Error()))
			}
		})
		return c.sch, c.err
	}
	if !isPath(nameOrPath) {
		return nil, fmt.Errorf("unknown schema %q (want one of: %s; or the path of a .json file)",
			nameOrPath, strings.Join(names, ", "))
	}
	sch, err := compileFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("schema %q: %s", nameOrPath, oneLine(err.Error()))
	}
	return sch, nil
}

// embeddedName reports whether s names an embedded schema, and its bare name.
func embeddedName(s string) (string, bool) {
	if strings.ContainsRune(s, '/') || strings.ContainsRune(s, filepath.Separator) {
		return "", false
	}
	name := strings.TrimSuffix(s, ".json")
	_, found := slices.BinarySearch(names, name)
	return name, found
}

// isPath reports whether s is to be read as the path of a schema file.
func isPath(s string) bool {
	return strings.ContainsRune(s, '/') || strings.ContainsRune(s, filepath.Separator) ||
		strings.HasSuffix(strings.ToLower(s), ".json")
}

// newCompiler returns a draft 2020-12 compiler that knows every embedded schema
// under its $id, and loads other references from local files only.
func newCompiler() (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(localLoader{})
	for _, name := range resources {
		data, err := files.ReadFile(name + ".json")
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("embedded %s.json: %w", name, err)
		}
		if err := c.AddResource(BaseURL+name+".json", doc); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// compileFile compiles the user's schema file at path.
func compileFile(path string) (*jsonschema.Schema, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			return nil, pe.Err // the caller names the schema, so drop the path
		}
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	// A file URL built by net/url escapes characters such as '#' that
	// Compiler.Compile would otherwise read as a fragment.
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") { // Windows: C:/x → /C:/x
		p = "/" + p
	}
	loc := (&url.URL{Scheme: "file", Path: p}).String()
	c, err := newCompiler()
	if err != nil {
		return nil, err
	}
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

// localLoader loads referenced schemas from local files and refuses anything
// else: provisioning never touches the network.
type localLoader struct{}

// Load implements jsonschema.URLLoader.
func (localLoader) Load(u string) (any, error) {
	if strings.HasPrefix(u, "file:") {
		return jsonschema.FileLoader{}.Load(u)
	}
	return nil, errors.New("only local files and the embedded schemas can be referenced; remote schemas are not fetched")
}

// oneLine folds a multi-line error text (the library nests causes on indented
// lines) into a single line.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
	}
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return l == "" }), "; ")
}
