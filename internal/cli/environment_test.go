package cli

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// envReaders are the functions that read the process environment.
var envReaders = map[string][]string{
	"os":      {"Getenv", "LookupEnv", "Environ", "ExpandEnv"},
	"syscall": {"Getenv", "Environ"},
}

// Package cli is the only one that reads the environment: every other
// package gets what it needs as options, so a test or an embedding
// program controls it. This fails on any call outside internal/cli (and
// outside tests) of a function that reads it.
func TestOnlyCLIReadsTheEnvironment(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch rel, _ := filepath.Rel(root, path); {
			case rel == filepath.Join("internal", "cli"), d.Name() == "testdata", d.Name() == "node_modules",
				rel != "." && strings.HasPrefix(d.Name(), "."),
				rel == "tools": // a separate module: the BigQuery emulator's build
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		names := map[string][]string{} // local name of an imported package → its env readers
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if fns, ok := envReaders[p]; ok {
				name := filepath.Base(p)
				if imp.Name != nil {
					name = imp.Name.Name
				}
				names[name] = fns
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok {
				for _, fn := range names[x.Name] {
					if sel.Sel.Name == fn {
						found = append(found, fset.Position(sel.Pos()).String()+": "+x.Name+"."+fn)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s reads the environment outside internal/cli: pass the value in from internal/cli", f)
	}
}
