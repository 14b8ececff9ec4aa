package dev.weft.security.auth;

/**
 * Who is calling, as the Kubernetes API vouched for it (TokenReview of a pod-bound ServiceAccount token, checked
 * against the Pod): the ServiceAccount, and the pod and node the token was issued to.
 */
public record CallerIdentity(String namespace, String serviceAccount, String podName, String podUid, String nodeName) {

    /** {@code namespace:name}, the form the configuration lists ServiceAccounts in. */
    public String serviceAccountRef() {
        return namespace + ":" + serviceAccount;
    }

    @Override
    public String toString() {
        return "ServiceAccount " + serviceAccountRef() + " (pod " + namespace + "/" + podName + " on node "
                + (nodeName.isEmpty() ? "<none>" : nodeName) + ")";
    }
}
