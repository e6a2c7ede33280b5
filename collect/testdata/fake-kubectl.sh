#!/bin/sh
# A fake kubectl for collect_test.go: serves canned objects from $FAKE_DIR, logs every call to
# $FAKE_DIR/calls, hangs on `get $FAKE_HANG`, names the nodes $FAKE_NODES (default node-a), and
# plays `kubectl debug node/...` by running the command after `--` locally (without chroot).
echo "$*" >>"$FAKE_DIR/calls"
args=" $* "
case $args in
*" config current-context "*) echo fake-ctx && exit 0 ;;
*" config view "*) printf fake-cluster && exit 0 ;;
*" version "*) cat "$FAKE_DIR/version.json" && exit 0 ;;
*" api-resources "*) printf 'pods\nsecrets\nconfigmaps\nippools.crd.projectcalico.org\n' && exit 0 ;;
esac
if [ -n "$FAKE_HANG" ]; then
	case $args in *" get $FAKE_HANG "*) exec sleep 600 ;; esac
fi
case $args in
*" debug node/"*)
	while [ "$1" != -- ]; do shift; done
	shift
	[ "$1" = chroot ] && shift 2
	run=$(printf '%s\n' "$@" | awk 'p { print; exit } /^--run-id$/ { p = 1 }')
	echo "$run" >"$FAKE_DIR/runid"
	exec "$@"
	;;
*" delete "*) exit 0 ;;
*"{.spec.containers[*].command}"*)
	printf 'node-debugger-node-a-abcde|["chroot","/host","sh","-s","node","--run-id","%s"]\n' "$(cat "$FAKE_DIR/runid" 2>/dev/null)"
	printf 'node-debugger-node-b-other|["sh"]\n'
	printf 'web-1|["nginx"]\n'
	exit 0
	;;
*"{.metadata.labels.k8s-app}"*) cat "$FAKE_DIR/pods.psv" && exit 0 ;;
*" get nodes "*jsonpath*) printf '%s' "${FAKE_NODES:-node-a}" && exit 0 ;;
*" get namespaces "*jsonpath*) printf 'default\nkube-system\nshop\n' && exit 0 ;;
*" get services "*jsonpath*) printf 'default|kubernetes\nshop|checkout\nkube-system|kube-dns\n' && exit 0 ;;
*" get secrets "*) cat "$FAKE_DIR/secrets.yaml" && exit 0 ;;
*" get configmaps "*" -n kube-system "*) cat "$FAKE_DIR/configmaps.yaml" && exit 0 ;;
*" get configmaps "*) cat "$FAKE_DIR/empty.yaml" && exit 0 ;;
*" get pods "*) cat "$FAKE_DIR/pods.yaml" && exit 0 ;;
*" get services "*) cat "$FAKE_DIR/services.yaml" && exit 0 ;;
*" get "*" -o yaml "*)
	kind=$(printf '%s\n' "$@" | awk 'p { print; exit } /^get$/ { p = 1 }')
	printf 'apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Thing\n  metadata:\n    name: one-%s\n    namespace: shop\nkind: List\nmetadata:\n  resourceVersion: ""\n' "$kind"
	exit 0
	;;
*" logs "*" --previous "*) echo "previous terminated container not found" >&2 && exit 1 ;;
*" logs "*)
	printf '2026-01-01T00:00:00Z starting, auth header Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJl\n'
	printf '2026-01-01T00:00:01Z connecting to checkout.shop.svc\n'
	exit 0
	;;
esac
echo "fake kubectl: unhandled: $*" >&2
exit 1
