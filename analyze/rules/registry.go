package rules

// All is the fault catalogue (../shared/FAULTS.md) as run by the analyzer: one explicit list, in
// the order outcomes are reported. A rule is added here and nowhere else.
func All() []*Rule {
	return []*Rule{
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
}
