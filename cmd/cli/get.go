package cli

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/yaml"

	"github.com/netsift/netsift/analyze/model"
	"github.com/netsift/netsift/report"
)

// getObject is one object as `netsift get` lists it.
type getObject struct {
	namespace, name string
	src             model.Source
	columns         []string
	// printable re-reads the object with every field from the bundle, for -o yaml and -o json:
	// the model's objects lack the fields no rule reads.
	printable func() (any, error)
}

// rereader re-reads the object at src into a new value of obj's k8s.io/api type: the type obj
// mirrors, when it is one of the model's own slim types.
func rereader(m *model.Model, obj any, src model.Source) func() (any, error) {
	return func() (any, error) {
		var whole any
		switch obj.(type) {
		case *model.Pod:
			whole = &corev1.Pod{}
		case *model.Service:
			whole = &corev1.Service{}
		case *model.Event:
			whole = &corev1.Event{}
		case *model.Endpoints:
			whole = &corev1.Endpoints{}
		case *model.EndpointSlice:
			whole = &discoveryv1.EndpointSlice{}
		default:
			whole = reflect.New(reflect.TypeOf(obj).Elem()).Interface()
		}
		return whole, m.Reread(src, whole)
	}
}

// kindAliases maps what a user types (kubectl's names and short names) to a kind.
var kindAliases = map[string]string{
	"node": "Node", "nodes": "Node", "no": "Node",
	"namespace": "Namespace", "namespaces": "Namespace", "ns": "Namespace",
	"pod": "Pod", "pods": "Pod", "po": "Pod",
	"service": "Service", "services": "Service", "svc": "Service",
	"endpoints": "Endpoints", "ep": "Endpoints",
	"endpointslice": "EndpointSlice", "endpointslices": "EndpointSlice",
	"networkpolicy": "NetworkPolicy", "networkpolicies": "NetworkPolicy", "netpol": "NetworkPolicy",
	"ingress": "Ingress", "ingresses": "Ingress", "ing": "Ingress",
	"event": "Event", "events": "Event", "ev": "Event",
	"daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
	"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
	"configmap": "ConfigMap", "configmaps": "ConfigMap", "cm": "ConfigMap",
	"serviceaccount": "ServiceAccount", "serviceaccounts": "ServiceAccount", "sa": "ServiceAccount",
	"clusterrole": "ClusterRole", "clusterroles": "ClusterRole",
	"clusterrolebinding": "ClusterRoleBinding", "clusterrolebindings": "ClusterRoleBinding",
	"role": "Role", "roles": "Role", "rolebinding": "RoleBinding", "rolebindings": "RoleBinding",
}

func newGetCommand(s Streams) *cobra.Command {
	var namespace, output string
	var all bool
	cmd := &cobra.Command{
		Use:   "get BUNDLE KIND [NAME]",
		Short: "Read the bundle's objects like kubectl get (no cluster needed)",
		Example: `  netsift get bundle.tgz pods -A
  netsift get bundle.tgz svc web -n shop -o yaml`,
		Args: cobra.RangeArgs(2, 3),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 1 {
				var kinds []string
				for k := range kindAliases {
					kinds = append(kinds, k)
				}
				sort.Strings(kinds)
				return kinds, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveDefault
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, ok := kindAliases[strings.ToLower(args[1])]
			if !ok {
				return fmt.Errorf("unknown kind %q", args[1])
			}
			switch output {
			case "", "wide", "yaml", "json":
			default:
				return fmt.Errorf("unknown output format %q (want wide, yaml or json)", output)
			}
			m, err := loadWithProgress(cmd, s, args[0])
			if err != nil {
				return err
			}
			for _, w := range m.Warnings {
				fmt.Fprintf(s.Err, "warning: %s\n", w)
			}
			if _, ok := m.Has(kind); !ok {
				return fmt.Errorf("the bundle has no %s data (%s)", kind, m.Bundle.Capture(model.KindFile(kind)).Why())
			}
			ns := namespace
			if all {
				ns = ""
			} else if ns == "" {
				ns = "default"
			}
			var objs []getObject
			for _, o := range objectsOf(m, kind) {
				if o.namespace != "" && ns != "" && o.namespace != ns {
					continue
				}
				if len(args) == 3 && o.name != args[2] {
					continue
				}
				objs = append(objs, o)
			}
			if len(args) == 3 && len(objs) == 0 {
				return fmt.Errorf("%s %q not found in the bundle", kind, args[2])
			}
			return printObjects(s, kind, objs, output, all)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&namespace, "namespace", "n", "", "namespace (default: default)")
	f.BoolVarP(&all, "all-namespaces", "A", false, "list across all namespaces")
	f.StringVarP(&output, "output", "o", "", "wide, yaml or json")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("wide", "yaml", "json"))
	return cmd
}

func printObjects(s Streams, kind string, objs []getObject, output string, allNS bool) error {
	switch output {
	case "yaml":
		for i, o := range objs {
			if i > 0 {
				fmt.Fprintln(s.Out, "---")
			}
			obj, err := o.printable()
			if err != nil {
				return err
			}
			b, err := yaml.Marshal(obj)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "# %s:%d\n%s", o.src.File, o.src.Line, b)
		}
		return nil
	case "json":
		items := make([]any, len(objs))
		for i, o := range objs {
			obj, err := o.printable()
			if err != nil {
				return err
			}
			items[i] = obj
		}
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		if len(items) == 1 {
			return enc.Encode(items[0])
		}
		return enc.Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	}
	if len(objs) == 0 {
		fmt.Fprintf(s.Err, "No resources found.\n")
		return nil
	}
	header := append([]string{"name"}, columnsOf(kind, output == "wide")...)
	if allNS && objs[0].namespace != "" {
		header = append([]string{"namespace"}, header...)
	}
	rows := make([][]string, len(objs))
	for i, o := range objs {
		row := append([]string{o.name}, o.columns...)
		if output != "wide" {
			row = row[:len(header)-boolInt(allNS && o.namespace != "")]
		}
		if allNS && o.namespace != "" {
			row = append([]string{o.namespace}, row...)
		}
		rows[i] = row
	}
	return report.Table(s.Out, header, rows)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// columnsOf names the columns objectsOf fills for kind; wide adds the rest.
func columnsOf(kind string, wide bool) []string {
	var cols, extra []string
	switch kind {
	case "Pod":
		cols, extra = []string{"ready", "status", "restarts"}, []string{"ip", "node"}
	case "Service":
		cols, extra = []string{"type", "cluster-ip", "ports"}, []string{"selector"}
	case "Node":
		cols, extra = []string{"status", "internal-ip", "pod-cidr"}, []string{"version"}
	case "Endpoints":
		cols = []string{"endpoints"}
	case "EndpointSlice":
		cols, extra = []string{"service", "endpoints"}, []string{"ready"}
	}
	if wide {
		return append(cols, extra...)
	}
	return cols
}

func objectsOf(m *model.Model, kind string) []getObject {
	var out []getObject
	add := func(ns, name string, obj any, src model.Source, cols ...string) {
		out = append(out, getObject{namespace: ns, name: name, src: src, columns: cols, printable: rereader(m, obj, src)})
	}
	switch kind {
	case "Pod":
		for _, p := range m.Pods {
			ready, total, restarts := 0, len(p.Spec.Containers), int32(0)
			for _, c := range p.Status.ContainerStatuses {
				if c.Ready {
					ready++
				}
				restarts += c.RestartCount
			}
			add(p.Namespace, p.Name, p, p.Src, fmt.Sprintf("%d/%d", ready, total), podStatus(p), fmt.Sprint(restarts), p.Status.PodIP, p.Spec.NodeName)
		}
	case "Service":
		for _, s := range m.Services {
			var ports []string
			for _, p := range s.Spec.Ports {
				ps := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
				if p.NodePort != 0 {
					ps = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
				}
				ports = append(ports, ps)
			}
			var sel []string
			for k, v := range s.Spec.Selector {
				sel = append(sel, k+"="+v)
			}
			sort.Strings(sel)
			add(s.Namespace, s.Name, s, s.Src, string(s.Spec.Type), s.Spec.ClusterIP, strings.Join(ports, ","), strings.Join(sel, ","))
		}
	case "Node":
		for _, n := range m.Nodes {
			status, ip := "Unknown", ""
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					status = map[corev1.ConditionStatus]string{corev1.ConditionTrue: "Ready", corev1.ConditionFalse: "NotReady"}[c.Status]
					if status == "" {
						status = "Unknown"
					}
				}
			}
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP && ip == "" {
					ip = a.Address
				}
			}
			add("", n.Name, n.Node, n.Src, status, ip, n.Spec.PodCIDR, n.Status.NodeInfo.KubeletVersion)
		}
	case "Endpoints":
		for _, e := range m.Endpoints {
			var addrs []string
			for _, sub := range e.Subsets {
				for _, a := range sub.Addresses {
					for _, p := range sub.Ports {
						addrs = append(addrs, fmt.Sprintf("%s:%d", a.IP, p.Port))
					}
				}
			}
			list := "<none>"
			if len(addrs) > 0 {
				list = strings.Join(addrs, ",")
			}
			add(e.Namespace, e.Name, e, e.Src, list)
		}
	case "EndpointSlice":
		for _, s := range m.EndpointSlices {
			var addrs []string
			ready := 0
			for _, ep := range s.Endpoints {
				addrs = append(addrs, ep.Addresses...)
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					ready++
				}
			}
			list := "<none>"
			if len(addrs) > 0 {
				list = strings.Join(addrs, ",")
			}
			add(s.Namespace, s.Name, s, s.Src, s.Labels["kubernetes.io/service-name"], list, fmt.Sprintf("%d/%d", ready, len(s.Endpoints)))
		}
	default:
		for _, o := range genericObjects(m, kind) {
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].namespace != out[j].namespace {
			return out[i].namespace < out[j].namespace
		}
		return out[i].name < out[j].name
	})
	return out
}

// genericObjects lists kinds that get no columns of their own.
func genericObjects(m *model.Model, kind string) []getObject {
	var out []getObject
	add := func(ns, name string, obj any, src model.Source) {
		out = append(out, getObject{namespace: ns, name: name, src: src, printable: rereader(m, obj, src)})
	}
	switch kind {
	case "Namespace":
		for _, o := range m.Namespaces {
			add("", o.Name, o.Namespace, o.Src)
		}
	case "NetworkPolicy":
		for _, o := range m.NetworkPolicies {
			add(o.Namespace, o.Name, o.NetworkPolicy, o.Src)
		}
	case "Ingress":
		for _, o := range m.Ingresses {
			add(o.Namespace, o.Name, o.Ingress, o.Src)
		}
	case "Event":
		for _, o := range m.Events {
			add(o.Namespace, o.Name, o, o.Src)
		}
	case "DaemonSet":
		for _, o := range m.DaemonSets {
			add(o.Namespace, o.Name, o.DaemonSet, o.Src)
		}
	case "Deployment":
		for _, o := range m.Deployments {
			add(o.Namespace, o.Name, o.Deployment, o.Src)
		}
	case "ConfigMap":
		for _, o := range m.ConfigMaps {
			add(o.Namespace, o.Name, o.ConfigMap, o.Src)
		}
	case "ServiceAccount":
		for _, o := range m.ServiceAccounts {
			add(o.Namespace, o.Name, o.ServiceAccount, o.Src)
		}
	case "ClusterRole":
		for _, o := range m.ClusterRoles {
			add("", o.Name, o.ClusterRole, o.Src)
		}
	case "ClusterRoleBinding":
		for _, o := range m.ClusterRoleBindings {
			add("", o.Name, o.ClusterRoleBinding, o.Src)
		}
	case "Role":
		for _, o := range m.Roles {
			add(o.Namespace, o.Name, o.Role, o.Src)
		}
	case "RoleBinding":
		for _, o := range m.RoleBindings {
			add(o.Namespace, o.Name, o.RoleBinding, o.Src)
		}
	}
	return out
}

// podStatus is the STATUS column of kubectl get pods, in its words.
func podStatus(p *model.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for i, c := range p.Status.InitContainerStatuses {
		switch {
		case c.State.Terminated != nil && c.State.Terminated.ExitCode == 0:
			continue
		case c.State.Waiting != nil && c.State.Waiting.Reason != "" && c.State.Waiting.Reason != "PodInitializing":
			return "Init:" + c.State.Waiting.Reason
		case c.State.Terminated != nil:
			return "Init:Error"
		default:
			return fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
	}
	reason := string(p.Status.Phase)
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Waiting != nil && c.State.Waiting.Reason != "" {
			reason = c.State.Waiting.Reason
		} else if c.State.Terminated != nil && c.State.Terminated.Reason != "" {
			reason = c.State.Terminated.Reason
		}
	}
	return reason
}
