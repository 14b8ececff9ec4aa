package dev.weft.bundle;

import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.PolicyRuleBuilder;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.RoleRef;
import io.fabric8.kubernetes.api.model.rbac.Subject;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The permissions the bundle's RBAC objects give one ServiceAccount, and the API server's decision for a request:
 * allowed if one rule of a role bound to the account (cluster-wide by a ClusterRoleBinding, in its namespace by a
 * RoleBinding) names the request's API group, resource (or resource/subresource), verb and -- when the rule lists
 * resourceNames -- its name. Kubernetes' own system:discovery role (every authenticated user) covers /version & co.
 */
final class Rbac {

    /** A rule as bound to the account; {@code namespace} null: cluster-wide. */
    record Grant(String source, String namespace, PolicyRule rule) {
    }

    /** One thing a rule allows: a verb on a resource in a group, maybe for one name (or a non-resource URL). */
    record Permission(Grant grant, String verb, String group, String resource, String resourceName, String nonResourceUrl) {

        /** "get nodes", "patch coordination.k8s.io/leases weft-ipam in namespace kube-system" */
        String what() {
            String what = nonResourceUrl != null ? verb + " " + nonResourceUrl
                    : verb + " " + (group.isEmpty() ? "" : group + "/") + resource + (resourceName == null ? "" : " " + resourceName);
            return what + (grant.namespace() == null ? "" : " in namespace " + grant.namespace());
        }

        String describe() {
            return what() + " (" + grant.source() + ")";
        }

        boolean covers(ApiRequest r) {
            return covers(r, true);
        }

        /**
         * With {@code byName} false a rule's resourceNames are not compared: the names a service uses come from its
         * configuration (a Lease's name), which its tests set differently from the bundle; BundleRbacTest ties the
         * bundle's resourceNames to the bundle's configuration instead.
         */
        boolean covers(ApiRequest r, boolean byName) {
            if (grant.namespace() != null && !grant.namespace().equals(r.namespace())) {
                return false;
            }
            if (nonResourceUrl != null) {
                return !r.isResource() && (verb.equals("*") || verb.equals(r.verb()))
                        && (nonResourceUrl.endsWith("*") ? r.nonResourcePath().startsWith(nonResourceUrl.substring(0, nonResourceUrl.length() - 1))
                        : nonResourceUrl.equals(r.nonResourcePath()));
            }
            String requested = r.subresource() == null ? r.resource() : r.resource() + "/" + r.subresource();
            return r.isResource() && (verb.equals("*") || verb.equals(r.verb())) && (group.equals("*") || group.equals(r.group()))
                    && (resource.equals("*") || resource.equals(requested))
                    && (resourceName == null || !byName || resourceName.equals(r.name()));
        }
    }

    /** Kubernetes grants this to system:authenticated (ClusterRole system:discovery). */
    static final Grant DISCOVERY = new Grant("ClusterRole system:discovery of every Kubernetes cluster", null,
            new PolicyRuleBuilder().withVerbs("get").withNonResourceURLs("/api", "/api/*", "/apis", "/apis/*", "/healthz",
                    "/livez", "/readyz", "/version", "/version/", "/openapi", "/openapi/*").build());

    private final List<Grant> grants;

    private Rbac(List<Grant> grants) {
        this.grants = grants;
    }

    List<Grant> grants() {
        return grants;
    }

    static Rbac of(Bundle bundle, String namespace, String serviceAccount) {
        List<Grant> grants = new ArrayList<>();
        bundle.all(ClusterRoleBinding.class).filter(b -> binds(b.getSubjects(), namespace, serviceAccount)).forEach(b ->
                rules(bundle, b.getRoleRef(), null).forEach(rule -> grants.add(new Grant(b.getRoleRef().getKind() + " "
                        + b.getRoleRef().getName() + " by ClusterRoleBinding " + b.getMetadata().getName(), null, rule))));
        bundle.all(RoleBinding.class).filter(b -> binds(b.getSubjects(), namespace, serviceAccount)).forEach(b ->
                rules(bundle, b.getRoleRef(), b.getMetadata().getNamespace()).forEach(rule -> grants.add(new Grant(
                        b.getRoleRef().getKind() + " " + b.getRoleRef().getName() + " by RoleBinding "
                                + b.getMetadata().getNamespace() + "/" + b.getMetadata().getName(), b.getMetadata().getNamespace(), rule))));
        return new Rbac(grants);
    }

    private static boolean binds(List<Subject> subjects, String namespace, String serviceAccount) {
        return subjects.stream().anyMatch(s -> "ServiceAccount".equals(s.getKind()) && serviceAccount.equals(s.getName())
                && namespace.equals(s.getNamespace()));
    }

    private static List<PolicyRule> rules(Bundle bundle, RoleRef ref, String namespace) {
        if ("ClusterRole".equals(ref.getKind())) {
            return bundle.find(ClusterRole.class, null, ref.getName()).map(ClusterRole::getRules).orElse(List.of());
        }
        return bundle.find(Role.class, namespace, ref.getName()).map(Role::getRules).orElse(List.of());
    }

    /** Every single permission of the account's rules. */
    List<Permission> permissions() {
        List<Permission> out = new ArrayList<>();
        for (Grant g : grants) {
            PolicyRule r = g.rule();
            for (String verb : r.getVerbs()) {
                for (String url : r.getNonResourceURLs()) {
                    out.add(new Permission(g, verb, null, null, null, url));
                }
                for (String group : r.getApiGroups()) {
                    for (String resource : r.getResources()) {
                        for (String name : names(r.getResourceNames())) {
                            out.add(new Permission(g, verb, group, resource, name, null));
                        }
                    }
                }
            }
        }
        return out;
    }

    private static Collection<String> names(List<String> resourceNames) {
        List<String> out = new ArrayList<>(resourceNames);
        if (out.isEmpty()) {
            out.add(null);
        }
        return out;
    }

    boolean allows(ApiRequest request) {
        return allows(request, true);
    }

    boolean allows(ApiRequest request, boolean byName) {
        return java.util.stream.Stream.concat(DISCOVERY.rule().getNonResourceURLs().stream()
                        .map(url -> new Permission(DISCOVERY, "get", null, null, null, url)), permissions().stream())
                .anyMatch(p -> p.covers(request, byName));
    }
}
