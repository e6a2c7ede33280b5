package rules

// All is the fault catalogue (../shared/FAULTS.md) as run by the analyzer: one explicit list, in
// the order outcomes are reported. A rule is added to one of the lists below and nowhere else.
func All() []*Rule {
	var all []*Rule
	for _, part := range [][]*Rule{coreRules, clusterRules2, proxyRules, netfilterRules, hostRules, traceRules} {
		all = append(all, part...)
	}
	return all
}

// coreRules are the cluster-object rules: pods, Services, endpoints, API, nodes, CNI agents, DNS.
var coreRules = []*Rule{
	podDuplicateIP,
	svcSelectorMismatch,
	svcTargetPortMismatch,
	svcNoEndpoints,
	svcPodsNotReady,
	apiServiceBroken,
	nodeNotReady,
	cniPodCrashloop,
	dnsCoreDNSDown,
	dnsServiceBroken,
}
