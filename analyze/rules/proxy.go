package rules

// proxyRules is this file's part of the catalogue; registry.go lists it. They check kube-proxy
// itself and the Service dataplane it writes on each node (iptables or IPVS, as
// model.ProxyMode detects), against the Services and EndpointSlices of the API.
var proxyRules = []*Rule{
	kubeProxyNotRunning,
	kubeProxyRulesMissing,
	kubeProxyRulesStale,
	ipvsNoRealServers,
	kubeProxyLogErrors,
	kubeProxyModeMismatch,
	kubeProxyClusterCIDRUnset,
	ipvsVIPNotBound,
	svcExternalLocalNoEndpoints,
}
