package rules

// clusterRules2 is this file's part of the catalogue; registry.go lists it. The rules live in
// cluster2_api.go (API access), cluster2_dns.go (DNS), cluster2_svc.go (Services, Ingresses,
// NetworkPolicies).
var clusterRules2 = []*Rule{
	apiRBACForbidden,
	apiUnreachable,
	dnsCoreDNSLoop,
	dnsUpstreamUnreachable,
	dnsPodResolvWrong,
	dnsNodeLocalBroken,
	svcLBPending,
	ingressBackendMissing,
	netpolSelectsNothing,
	netpolNotEnforced,
	netpolDNSBlocked,
}
