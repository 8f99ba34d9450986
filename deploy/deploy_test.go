// Package deploy holds the container image's health check and the
// Kubernetes manifests; its tests check that every manifest parses into its
// kind (strictly: an unknown or misspelt field fails), that the pieces refer
// to each other correctly, that kustomize builds the base and the GPU
// overlay, and that the Dockerfile keeps its promises.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/llmprobe/llmprobe/alerts"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/dashboards"
)

// The subset of the Kubernetes and Prometheus Operator schemas these
// manifests use. Decoding is strict, so a field outside it (a typo, or a
// field in the wrong place) fails the test.

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type httpGet struct {
	Path string `yaml:"path"`
	Port string `yaml:"port"`
}

type probe struct {
	HTTPGet             httpGet `yaml:"httpGet"`
	InitialDelaySeconds int     `yaml:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int     `yaml:"periodSeconds,omitempty"`
	TimeoutSeconds      int     `yaml:"timeoutSeconds,omitempty"`
	FailureThreshold    int     `yaml:"failureThreshold,omitempty"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env,omitempty"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
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
		ReadOnly  bool   `yaml:"readOnly,omitempty"`
	} `yaml:"volumeMounts"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap,omitempty"`
	Secret *struct {
		SecretName  string `yaml:"secretName"`
		DefaultMode int    `yaml:"defaultMode,omitempty"`
	} `yaml:"secret,omitempty"`
	EmptyDir *struct {
		SizeLimit string `yaml:"sizeLimit,omitempty"`
	} `yaml:"emptyDir,omitempty"`
}

type deployment struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		Replicas *int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     struct {
				ServiceAccountName            string            `yaml:"serviceAccountName"`
				AutomountServiceAccountToken  *bool             `yaml:"automountServiceAccountToken"`
				TerminationGracePeriodSeconds int               `yaml:"terminationGracePeriodSeconds"`
				RuntimeClassName              string            `yaml:"runtimeClassName,omitempty"`
				NodeSelector                  map[string]string `yaml:"nodeSelector,omitempty"`
				Tolerations                   []struct {
					Key      string `yaml:"key"`
					Operator string `yaml:"operator"`
					Effect   string `yaml:"effect"`
				} `yaml:"tolerations,omitempty"`
				SecurityContext struct {
					RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
					RunAsUser      int   `yaml:"runAsUser"`
					RunAsGroup     int   `yaml:"runAsGroup"`
					FSGroup        int   `yaml:"fsGroup"`
					SeccompProfile struct {
						Type string `yaml:"type"`
					} `yaml:"seccompProfile"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []volume    `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
			Protocol   string `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type serviceAccount struct {
	APIVersion                   string     `yaml:"apiVersion"`
	Kind                         string     `yaml:"kind"`
	Metadata                     objectMeta `yaml:"metadata"`
	AutomountServiceAccountToken *bool      `yaml:"automountServiceAccountToken"`
}

type serviceMonitor struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		Selector  labelSelector `yaml:"selector"`
		Endpoints []struct {
			Port          string `yaml:"port"`
			Path          string `yaml:"path"`
			Interval      string `yaml:"interval"`
			ScrapeTimeout string `yaml:"scrapeTimeout"`
		} `yaml:"endpoints"`
		ScrapeClassicHistograms *bool `yaml:"scrapeClassicHistograms"`
	} `yaml:"spec"`
}

type prometheusRule struct {
	APIVersion string          `yaml:"apiVersion"`
	Kind       string          `yaml:"kind"`
	Metadata   objectMeta      `yaml:"metadata"`
	Spec       alerts.RuleFile `yaml:"spec"`
}

type configMap struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   objectMeta        `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
}

type kustomization struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Labels     []struct {
		Pairs            map[string]string `yaml:"pairs"`
		IncludeSelectors bool              `yaml:"includeSelectors"`
	} `yaml:"labels,omitempty"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator,omitempty"`
	Images []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images,omitempty"`
	Patches []struct {
		Path string `yaml:"path"`
	} `yaml:"patches,omitempty"`
}

// objects holds the decoded manifests of one kustomization (or its build).
type objects struct {
	deployments     []deployment
	services        []service
	serviceAccounts []serviceAccount
	serviceMonitors []serviceMonitor
	rules           []prometheusRule
	configMaps      []configMap
}

// decodeAll decodes every document of a multi-document YAML stream into the
// type of its kind.
func decodeAll(t *testing.T, name string, b []byte, into *objects) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for i := 0; ; i++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		var head struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
		}
		if err := node.Decode(&head); err != nil {
			t.Fatalf("%s: document %d: %v", name, i, err)
		}
		strict := func(v any) {
			var buf bytes.Buffer
			enc := yaml.NewEncoder(&buf)
			if err := enc.Encode(&node); err != nil {
				t.Fatal(err)
			}
			d := yaml.NewDecoder(&buf)
			d.KnownFields(true)
			if err := d.Decode(v); err != nil {
				t.Errorf("%s: document %d (%s): does not parse as a %s: %v", name, i, head.Kind, head.Kind, err)
			}
		}
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			var o deployment
			strict(&o)
			into.deployments = append(into.deployments, o)
		case "v1 Service":
			var o service
			strict(&o)
			into.services = append(into.services, o)
		case "v1 ServiceAccount":
			var o serviceAccount
			strict(&o)
			into.serviceAccounts = append(into.serviceAccounts, o)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			var o serviceMonitor
			strict(&o)
			into.serviceMonitors = append(into.serviceMonitors, o)
		case "monitoring.coreos.com/v1 PrometheusRule":
			var o prometheusRule
			strict(&o)
			into.rules = append(into.rules, o)
		case "v1 ConfigMap":
			var o configMap
			strict(&o)
			into.configMaps = append(into.configMaps, o)
		default:
			t.Errorf("%s: document %d: unexpected %s %s", name, i, head.APIVersion, head.Kind)
		}
	}
}

func readKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("%s: apiVersion/kind %s/%s", dir, k.APIVersion, k.Kind)
	}
	return k
}

const base = "kubernetes/base"

// loadBase decodes the base's resources as they are in the repository.
func loadBase(t *testing.T) (kustomization, objects) {
	t.Helper()
	k := readKustomization(t, base)
	var objs objects
	for _, r := range k.Resources {
		b, err := os.ReadFile(filepath.Join(base, r))
		if err != nil {
			t.Fatalf("kustomization resource %s: %v", r, err)
		}
		decodeAll(t, r, b, &objs)
	}
	return k, objs
}

func TestBaseManifests(t *testing.T) {
	k, objs := loadBase(t)
	if len(objs.deployments) != 1 || len(objs.services) != 1 || len(objs.serviceMonitors) != 1 ||
		len(objs.rules) != 1 || len(objs.serviceAccounts) != 1 {
		t.Fatalf("want one Deployment, Service, ServiceAccount, ServiceMonitor and PrometheusRule; got %d %d %d %d %d",
			len(objs.deployments), len(objs.services), len(objs.serviceAccounts), len(objs.serviceMonitors), len(objs.rules))
	}
	checkDeployment(t, k, objs.deployments[0], objs.serviceAccounts[0], false)

	svc := objs.services[0]
	pod := objs.deployments[0].Spec.Template
	for l, v := range svc.Spec.Selector {
		if pod.Metadata.Labels[l] != v {
			t.Errorf("Service selects %s=%s, the pods have %q", l, v, pod.Metadata.Labels[l])
		}
	}
	portNames := map[string]bool{}
	for _, p := range pod.Spec.Containers[0].Ports {
		portNames[p.Name] = true
	}
	svcPorts := map[string]bool{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = true
		if !portNames[p.TargetPort] {
			t.Errorf("Service port %s targets %q, not a container port", p.Name, p.TargetPort)
		}
	}

	sm := objs.serviceMonitors[0]
	for l, v := range sm.Spec.Selector.MatchLabels {
		if svc.Metadata.Labels[l] != v {
			t.Errorf("ServiceMonitor selects %s=%s, the Service has %q", l, v, svc.Metadata.Labels[l])
		}
	}
	if svc.Metadata.Name != "llmprobe" {
		t.Errorf("Service %q: the alerts expect job=llmprobe, the Service's name", svc.Metadata.Name)
	}
	for _, e := range sm.Spec.Endpoints {
		if !svcPorts[e.Port] || e.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint %s%s: no such Service port or not /metrics", e.Port, e.Path)
		}
	}
	if sm.Spec.ScrapeClassicHistograms == nil || !*sm.Spec.ScrapeClassicHistograms {
		t.Error("ServiceMonitor: scrapeClassicHistograms should be on (dashboards and rules read the classic buckets)")
	}

	// The PrometheusRule carries the rule file unchanged.
	want, err := alerts.Parse(alerts.Rules)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := yaml.Marshal(want)
	b, _ := yaml.Marshal(objs.rules[0].Spec)
	if !bytes.Equal(a, b) {
		t.Error("prometheusrule.yaml differs from alerts/llmprobe.rules.yml: run go generate ./alerts/...")
	}

	// The dashboards, as ConfigMaps for the Grafana sidecar.
	files, err := dashboards.Files()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, cm := range objs.configMaps {
		if cm.Metadata.Labels["grafana_dashboard"] != "1" {
			t.Errorf("ConfigMap %s: no grafana_dashboard label", cm.Metadata.Name)
		}
		for f, data := range cm.Data {
			n++
			if want := files["dashboards/"+f]; string(want) != data {
				t.Errorf("ConfigMap %s: %s differs from the generated dashboard", cm.Metadata.Name, f)
			}
		}
	}
	if n != len(files)-1 {
		t.Errorf("%d dashboards in ConfigMaps, want %d", n, len(files)-1)
	}
}

// checkDeployment checks the pod's wiring: config and keys mounted, probes
// on the health endpoints, a locked-down security context.
func checkDeployment(t *testing.T, k kustomization, d deployment, sa serviceAccount, gpu bool) {
	t.Helper()
	spec := d.Spec.Template.Spec
	for l, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Metadata.Labels[l] != v {
			t.Errorf("Deployment selector %s=%s does not match its pod labels", l, v)
		}
	}
	if spec.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("serviceAccountName %q, the ServiceAccount is %q", spec.ServiceAccountName, sa.Metadata.Name)
	}
	if sc := spec.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == 0 {
		t.Error("pod must run as a non-root user")
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Error("container: want a read-only root, no privilege escalation and every capability dropped")
	}
	if c.Resources.Limits["memory"] == "" || c.Resources.Limits["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Error("container: want memory and CPU limits and a memory request")
	}
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for name, pr := range map[string]*probe{"/-/ready": c.ReadinessProbe, "/-/healthy": c.LivenessProbe} {
		if pr == nil || pr.HTTPGet.Path != name || !ports[pr.HTTPGet.Port] {
			t.Errorf("want a probe on %s at a container port, got %+v", name, pr)
		}
	}
	vols := map[string]volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{} // path -> volume
	for _, m := range c.VolumeMounts {
		if _, ok := vols[m.Name]; !ok {
			t.Errorf("mount %s: no volume %q", m.MountPath, m.Name)
		}
		mounts[m.MountPath] = m.Name
	}
	// --config.file names the generated ConfigMap's file in its mount.
	var cfgPath string
	for _, a := range c.Args {
		if p, ok := strings.CutPrefix(a, "--config.file="); ok {
			cfgPath = p
		}
	}
	cfgVol := vols[mounts[filepath.Dir(cfgPath)]]
	if cfgVol.ConfigMap == nil {
		t.Fatalf("--config.file=%s is not in a ConfigMap mount", cfgPath)
	}
	if k.ConfigMapGenerator != nil {
		g := k.ConfigMapGenerator[0]
		if cfgVol.ConfigMap.Name != g.Name || !slices.Contains(g.Files, filepath.Base(cfgPath)) {
			t.Errorf("--config.file=%s: ConfigMap %s, the generator makes %s with %v", cfgPath, cfgVol.ConfigMap.Name, g.Name, g.Files)
		}
	}
	keys := vols[mounts["/etc/llmprobe/keys"]]
	if keys.Secret == nil || keys.Secret.SecretName == "" {
		t.Error("API keys: want a Secret mounted at /etc/llmprobe/keys")
	}
	if data := vols[mounts["/var/lib/llmprobe"]]; data.EmptyDir == nil {
		t.Error("want a data volume at /var/lib/llmprobe (the image's working directory)")
	}
	noGPU := slices.Contains(c.Args, "--no-collector.gpu")
	switch {
	case gpu && (noGPU || spec.RuntimeClassName != "nvidia"):
		t.Errorf("GPU variant: args %v, runtimeClassName %q: want NVML on and the nvidia runtime class", c.Args, spec.RuntimeClassName)
	case !gpu && !noGPU:
		t.Error("base: want --no-collector.gpu (the gpu overlay turns NVML on)")
	}
}

// TestConfigLoads validates the ConfigMap's config with llmprobe's own loader
// (the API key file pointed at a temporary one).
func TestConfigLoads(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(base, "llmprobe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "vllm.key")
	if err := os.WriteFile(key, []byte("sk-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const keyPath = "/etc/llmprobe/keys/vllm.key"
	if !bytes.Contains(b, []byte(keyPath)) {
		t.Fatalf("the config reads no key from the Secret mount (%s)", keyPath)
	}
	cfg, err := config.Load(bytes.ReplaceAll(b, []byte(keyPath), []byte(key)), "llmprobe.yaml")
	if err != nil {
		t.Fatalf("deploy/kubernetes/base/llmprobe.yaml does not load:\n%v", err)
	}
	if cfg.Global.DataDir != "/var/lib/llmprobe" {
		t.Errorf("data_dir %q, want the data volume /var/lib/llmprobe", cfg.Global.DataDir)
	}
}

// TestKustomizeBuild builds the base and the GPU overlay with kubectl's
// kustomize, where kubectl is installed, and checks what comes out.
func TestKustomizeBuild(t *testing.T) {
	overlay := readKustomization(t, "kubernetes/overlays/gpu")
	for _, p := range overlay.Patches {
		b, err := os.ReadFile(filepath.Join("kubernetes/overlays/gpu", p.Path))
		if err != nil {
			t.Fatal(err)
		}
		var o objects
		decodeAll(t, p.Path, b, &o)
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed: the kustomize build is not checked")
	}
	for _, tc := range []struct {
		dir string
		gpu bool
	}{{base, false}, {"kubernetes/overlays/gpu", true}} {
		out, err := exec.Command(kubectl, "kustomize", tc.dir).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("kubectl kustomize %s: %v\n%s", tc.dir, err, ee.Stderr)
			}
			t.Fatalf("kubectl kustomize %s: %v", tc.dir, err)
		}
		var objs objects
		decodeAll(t, tc.dir, out, &objs)
		if len(objs.deployments) != 1 || len(objs.serviceAccounts) != 1 {
			t.Fatalf("%s: %d Deployments, %d ServiceAccounts", tc.dir, len(objs.deployments), len(objs.serviceAccounts))
		}
		d := objs.deployments[0]
		checkDeployment(t, kustomization{}, d, objs.serviceAccounts[0], tc.gpu)
		// The generated config's name (with its hash) is what the pod mounts.
		var cfgName string
		for _, cm := range objs.configMaps {
			if _, ok := cm.Data["llmprobe.yaml"]; ok {
				cfgName = cm.Metadata.Name
			}
		}
		found := false
		for _, v := range d.Spec.Template.Spec.Volumes {
			found = found || (v.ConfigMap != nil && v.ConfigMap.Name == cfgName)
		}
		if cfgName == "" || !found {
			t.Errorf("%s: the pod does not mount the generated config ConfigMap %q", tc.dir, cfgName)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, "ghcr.io/llmprobe/llmprobe:") {
			t.Errorf("%s: image %q: the images transformer did not apply", tc.dir, img)
		}
	}
}

// TestDockerfile checks what the image promises: pinned bases, a cgo
// build, a non-root user, and a health check on /-/healthy.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG (\w+)=(\S+)$`).FindAllStringSubmatch(df, -1) {
		args[m[1]] = m[2]
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, found %d FROM lines", len(froms))
	}
	for _, m := range froms {
		img := m[1]
		if v, ok := strings.CutPrefix(img, "${"); ok {
			img = args[strings.TrimSuffix(v, "}")]
		}
		name, tag, ok := strings.Cut(img, ":")
		if !ok || tag == "" || tag == "latest" || strings.Contains(name, "$") {
			t.Errorf("FROM %s (%s): pin a tag", m[1], img)
		}
	}
	if !strings.Contains(args["GO_IMAGE"], "golang:1.26") {
		t.Errorf("builder %q: want golang 1.26 (go.mod)", args["GO_IMAGE"])
	}
	for _, want := range []string{
		"CGO_ENABLED=1",
		"\nUSER 65532:65532\n",
		"HEALTHCHECK",
		"/-/healthy",
		"EXPOSE 9750",
		"./deploy/docker/healthcheck",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile: no %q", want)
		}
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ignore), ".git") {
		t.Error(".dockerignore: keep .git out of the build context")
	}
}
