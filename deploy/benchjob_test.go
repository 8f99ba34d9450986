package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The subset of the Job and PersistentVolumeClaim schemas bench-job.yaml
// uses, decoded strictly as the base's manifests are.

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value,omitempty"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name     string `yaml:"name"`
			Key      string `yaml:"key"`
			Optional bool   `yaml:"optional"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom,omitempty"`
}

type jobContainer struct {
	Name      string   `yaml:"name"`
	Image     string   `yaml:"image"`
	Args      []string `yaml:"args"`
	Env       []envVar `yaml:"env,omitempty"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type job struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		CompletionMode string `yaml:"completionMode,omitempty"`
		Completions    *int   `yaml:"completions,omitempty"`
		Parallelism    *int   `yaml:"parallelism,omitempty"`
		BackoffLimit   *int   `yaml:"backoffLimit"`
		Template       struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				RestartPolicy                string `yaml:"restartPolicy"`
				AutomountServiceAccountToken *bool  `yaml:"automountServiceAccountToken"`
				SecurityContext              struct {
					RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
					RunAsUser      int   `yaml:"runAsUser"`
					RunAsGroup     int   `yaml:"runAsGroup"`
					FSGroup        int   `yaml:"fsGroup"`
					SeccompProfile struct {
						Type string `yaml:"type"`
					} `yaml:"seccompProfile"`
				} `yaml:"securityContext"`
				Containers []jobContainer `yaml:"containers"`
				Volumes    []struct {
					Name                  string `yaml:"name"`
					PersistentVolumeClaim *struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type pvc struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		AccessModes []string `yaml:"accessModes"`
		Resources   struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
	} `yaml:"spec"`
}

// readBenchJob decodes bench-job.yaml's documents strictly.
func readBenchJob(t *testing.T) ([]job, []pvc) {
	t.Helper()
	b, err := os.ReadFile("kubernetes/bench-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var jobs []job
	var claims []pvc
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for i := 0; ; i++ {
		var node yaml.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			return jobs, claims
		} else if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var head struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
		}
		if err := node.Decode(&head); err != nil {
			t.Fatal(err)
		}
		strict := func(v any) {
			var buf bytes.Buffer
			if err := yaml.NewEncoder(&buf).Encode(&node); err != nil {
				t.Fatal(err)
			}
			d := yaml.NewDecoder(&buf)
			d.KnownFields(true)
			if err := d.Decode(v); err != nil {
				t.Errorf("document %d (%s): does not parse as a %s: %v", i, head.Kind, head.Kind, err)
			}
		}
		switch head.APIVersion + " " + head.Kind {
		case "batch/v1 Job":
			var j job
			strict(&j)
			jobs = append(jobs, j)
		case "v1 PersistentVolumeClaim":
			var c pvc
			strict(&c)
			claims = append(claims, c)
		default:
			t.Errorf("document %d: unexpected %s %s", i, head.APIVersion, head.Kind)
		}
	}
}

func argValue(args []string, flag string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestBenchJob checks deploy/kubernetes/bench-job.yaml: an Indexed Job
// whose completion count is the --shard count, every shard started at
// once (--start-at, no retries), writing to a shared ReadWriteMany claim;
// a merge Job over the same claim whose pattern matches every shard's
// result file and none other; both with the base's image and locked-down
// pods; every $(VAR) in the args defined in the container's env.
func TestBenchJob(t *testing.T) {
	jobs, claims := readBenchJob(t)
	if len(jobs) != 2 || len(claims) != 1 {
		t.Fatalf("want the shards' Job, the merge Job and a claim; got %d Jobs, %d claims", len(jobs), len(claims))
	}
	claim := claims[0]
	if !slices.Contains(claim.Spec.AccessModes, "ReadWriteMany") {
		t.Errorf("claim %s: access modes %v: the shards' pods on other nodes write to it too (ReadWriteMany)", claim.Metadata.Name, claim.Spec.AccessModes)
	}
	k := readKustomization(t, base)
	image := k.Images[0].NewName + ":" + k.Images[0].NewTag
	var shards, merger *job
	for i := range jobs {
		if jobs[i].Spec.CompletionMode == "Indexed" {
			shards = &jobs[i]
		} else {
			merger = &jobs[i]
		}
	}
	if shards == nil || merger == nil {
		t.Fatal("want one Indexed Job (the shards) and one other (the merge)")
	}
	n := 0
	if c, p := shards.Spec.Completions, shards.Spec.Parallelism; c == nil || p == nil || *c < 2 || *p != *c {
		t.Errorf("shards: completions %v, parallelism %v: want N >= 2 of both (every shard runs at once)", c, p)
	} else {
		n = *c
	}
	if b := shards.Spec.BackoffLimit; b == nil || *b != 0 {
		t.Error("shards: want backoffLimit 0: a retried shard would start after --start-at")
	}

	resultDir := map[string]string{} // job name -> where its claim is mounted
	for _, j := range jobs {
		spec := j.Spec.Template.Spec
		if spec.RestartPolicy != "Never" {
			t.Errorf("%s: restartPolicy %q, want Never (the Job controller retries, or not)", j.Metadata.Name, spec.RestartPolicy)
		}
		if sc := spec.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == 0 || sc.FSGroup == 0 {
			t.Errorf("%s: want a non-root user and an fsGroup (to write to the claim)", j.Metadata.Name)
		}
		if a := spec.AutomountServiceAccountToken; a == nil || *a {
			t.Errorf("%s: want no service account token", j.Metadata.Name)
		}
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: %d containers", j.Metadata.Name, len(spec.Containers))
		}
		c := spec.Containers[0]
		if c.Image != image {
			t.Errorf("%s: image %s, the base deploys %s", j.Metadata.Name, c.Image, image)
		}
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: want a read-only root, no privilege escalation and every capability dropped", j.Metadata.Name)
		}
		if c.Resources.Limits["memory"] == "" || c.Resources.Limits["cpu"] == "" {
			t.Errorf("%s: want CPU and memory limits", j.Metadata.Name)
		}
		env := map[string]bool{}
		for _, e := range c.Env {
			env[e.Name] = true
		}
		for _, a := range c.Args {
			for _, m := range regexp.MustCompile(`\$\((\w+)\)`).FindAllStringSubmatch(a, -1) {
				if !env[m[1]] {
					t.Errorf("%s: %s uses $(%s), which the container's env does not define (Kubernetes leaves it as is)", j.Metadata.Name, a, m[1])
				}
			}
		}
		for _, m := range c.VolumeMounts {
			for _, v := range spec.Volumes {
				if v.Name == m.Name && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim.Metadata.Name {
					resultDir[j.Metadata.Name] = m.MountPath
				}
			}
		}
		if resultDir[j.Metadata.Name] == "" {
			t.Errorf("%s: does not mount claim %s", j.Metadata.Name, claim.Metadata.Name)
		}
	}

	args := shards.Spec.Template.Spec.Containers[0].Args
	if args[0] != "bench" {
		t.Errorf("shards run %q, want bench", args[0])
	}
	if v, _ := argValue(args, "shard"); v != "auto/"+strconv.Itoa(n) {
		t.Errorf("shards: --shard=%s, want auto/%d (the index from the pod, N the completions)", v, n)
	}
	if v, ok := argValue(args, "start-at"); !ok || v == "" {
		t.Error("shards: no --start-at: they would not start together")
	}
	dir, _ := argValue(args, "result-file")
	if strings.TrimSuffix(dir, "/") != resultDir[shards.Metadata.Name] || !strings.HasSuffix(dir, "/") {
		t.Errorf("shards: --result-file=%s, want the claim's mount %s/ (a directory: shard-I-of-N.json each)", dir, resultDir[shards.Metadata.Name])
	}

	margs := merger.Spec.Template.Spec.Containers[0].Args
	if margs[0] != "merge" {
		t.Fatalf("merge Job runs %q", margs[0])
	}
	out, _ := argValue(margs, "result-file")
	var patterns []string
	for _, a := range margs[1:] {
		if !strings.HasPrefix(a, "--") {
			patterns = append(patterns, a)
		}
	}
	if len(patterns) != 1 {
		t.Fatalf("merge: results %v, want one pattern", patterns)
	}
	p := strings.TrimPrefix(patterns[0], resultDir[merger.Metadata.Name]+"/")
	mdir := filepath.Dir(patterns[0])
	if mdir != resultDir[merger.Metadata.Name] || filepath.Dir(out) != mdir {
		t.Errorf("merge: pattern %s and result %s, want both in the claim's mount %s", patterns[0], out, resultDir[merger.Metadata.Name])
	}
	for i := range n {
		name := fmt.Sprintf("shard-%d-of-%d.json", i, n) // what bench --shard writes in a --result-file directory
		if ok, _ := filepath.Match(p, name); !ok {
			t.Errorf("merge: pattern %s misses shard %d's result %s", patterns[0], i, name)
		}
	}
	for _, other := range []string{filepath.Base(out), fmt.Sprintf("shard-0-of-%d.samples.jsonl", n), fmt.Sprintf("shard-0-of-%d.json", n+1)} {
		if ok, _ := filepath.Match(p, other); ok {
			t.Errorf("merge: pattern %s matches %s, not a shard of this run", patterns[0], other)
		}
	}
	if b := merger.Spec.BackoffLimit; b == nil || *b < 10 {
		t.Error("merge: want a backoffLimit of 10 or more: it fails until every shard's result is there, and is retried")
	}
}
