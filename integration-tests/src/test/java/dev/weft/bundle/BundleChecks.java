package dev.weft.bundle;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.RoleRef;
import io.fabric8.kubernetes.api.model.rbac.Subject;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * What the bundle may reference, checked object by object; each problem names the object and the field:
 * <ul>
 * <li>every document is a known kind with only known fields (no typo lands silently in additionalProperties);</li>
 * <li>images are the ones the images module builds, at the project version;</li>
 * <li>ConfigMaps and their keys exist, every key is used, and every environment variable is one the container's
 * service reads ({@link ServiceSettings}); containers that run no service of ours get no environment;</li>
 * <li>ServiceAccounts, roles of bindings, volumes of mounts exist; every long-running container has readiness and
 * liveness probes; Services select a workload's pods.</li>
 * </ul>
 */
final class BundleChecks {

    private final Bundle bundle;
    private final Set<String> images;
    private final Function<String, Set<String>> settingsOfModule;
    private final List<String> problems = new ArrayList<>();

    /**
     * @param images           every image the bundle may name (localhost/weft/NAME:VERSION)
     * @param settingsOfModule a service module's readable environment names
     */
    BundleChecks(Bundle bundle, Set<String> images, Function<String, Set<String>> settingsOfModule) {
        this.bundle = bundle;
        this.images = images;
        this.settingsOfModule = settingsOfModule;
    }

    List<String> problems() {
        problems.clear();
        bundle.objects().forEach(this::knownFields);
        Set<String> usedKeys = new TreeSet<>();
        bundle.workloads().forEach(w -> workload(w, usedKeys));
        bundle.all(ConfigMap.class).forEach(cm -> {
            for (String key : cm.getData() == null ? Set.<String>of() : cm.getData().keySet()) {
                if (!usedKeys.contains(cm.getMetadata().getName() + "/" + key)) {
                    problems.add(Bundle.describe(cm) + ": data." + key + ": no container reads this key");
                }
            }
        });
        bundle.all(RoleBinding.class).forEach(b -> binding(b, b.getMetadata().getNamespace(), b.getRoleRef(), b.getSubjects()));
        bundle.all(ClusterRoleBinding.class).forEach(b -> binding(b, null, b.getRoleRef(), b.getSubjects()));
        bundle.all(Service.class).forEach(this::service);
        return List.copyOf(problems);
    }

    private void workload(Bundle.Workload w, Set<String> usedKeys) {
        String where = w.describe();
        var spec = w.template().getSpec();
        String sa = w.serviceAccount();
        if (bundle.find(ServiceAccount.class, w.namespace(), sa).isEmpty()) {
            problems.add(where + ": spec.template.spec.serviceAccountName: ServiceAccount " + w.namespace() + "/" + sa
                    + " is not in the bundle");
        }
        var selector = w.object() instanceof io.fabric8.kubernetes.api.model.apps.Deployment d ? d.getSpec().getSelector()
                : ((io.fabric8.kubernetes.api.model.apps.DaemonSet) w.object()).getSpec().getSelector();
        selector.getMatchLabels().forEach((k, v) -> {
            if (!v.equals(w.template().getMetadata().getLabels().get(k))) {
                problems.add(where + ": spec.selector.matchLabels." + k + ": the pod template has no label " + k + "=" + v);
            }
        });
        Set<String> initNames = new TreeSet<>();
        spec.getInitContainers().forEach(c -> initNames.add(c.getName()));
        for (Container c : w.containers().toList()) {
            String field = "spec.template.spec." + (initNames.contains(c.getName()) ? "initContainers" : "containers") + "[" + c.getName() + "]";
            if (!images.contains(c.getImage())) {
                problems.add(where + ": " + field + ".image: " + c.getImage() + " is not an image the images module builds " + images);
            }
            String module = Bundle.SERVICES.stream().filter(s -> s.workload().equals(w.object().getMetadata().getName())
                    && s.container().equals(c.getName())).map(Bundle.ServiceModule::module).findFirst().orElse(null);
            Set<String> readable = module == null ? Set.of() : settingsOfModule.apply(module);
            for (EnvVar e : c.getEnv()) {
                String envField = field + ".env[" + e.getName() + "]";
                if (!readable.contains(e.getName())) {
                    problems.add(where + ": " + envField + ": " + (module == null
                            ? c.getName() + " runs no Weft service, nothing reads " + e.getName()
                            : module + " reads no " + e.getName() + " (not a key of its configuration)"));
                }
                if (e.getValueFrom() != null && e.getValueFrom().getConfigMapKeyRef() != null) {
                    var ref = e.getValueFrom().getConfigMapKeyRef();
                    configMapKey(where, envField + ".valueFrom.configMapKeyRef", w.namespace(), ref.getName(), ref.getKey(),
                            Boolean.TRUE.equals(ref.getOptional()), usedKeys);
                }
            }
            for (EnvFromSource from : c.getEnvFrom()) {
                problems.add(where + ": " + field + ".envFrom: imports every key of " + (from.getConfigMapRef() == null ? "a source"
                        : "ConfigMap " + from.getConfigMapRef().getName()) + "; map the keys the service reads one by one");
            }
            for (VolumeMount m : c.getVolumeMounts()) {
                if (spec.getVolumes().stream().noneMatch(v -> v.getName().equals(m.getName()))) {
                    problems.add(where + ": " + field + ".volumeMounts[" + m.getName() + "]: no volume " + m.getName() + " in the pod");
                }
            }
            if (!initNames.contains(c.getName()) && (c.getReadinessProbe() == null || c.getLivenessProbe() == null)) {
                problems.add(where + ": " + field + ": needs a readinessProbe and a livenessProbe");
            }
        }
        for (Volume v : spec.getVolumes()) {
            if (v.getConfigMap() != null) {
                configMapKey(where, "spec.template.spec.volumes[" + v.getName() + "].configMap", w.namespace(),
                        v.getConfigMap().getName(), null, Boolean.TRUE.equals(v.getConfigMap().getOptional()), usedKeys);
            }
        }
    }

    private void configMapKey(String where, String field, String namespace, String name, String key, boolean optional, Set<String> usedKeys) {
        var cm = bundle.find(ConfigMap.class, namespace, name);
        if (cm.isEmpty()) {
            problems.add(where + ": " + field + ".name: ConfigMap " + namespace + "/" + name + " is not in the bundle");
            return;
        }
        Map<String, String> data = Objects.requireNonNullElse(cm.get().getData(), Map.of());
        if (key == null) {
            data.keySet().forEach(k -> usedKeys.add(name + "/" + k));
        } else if (data.containsKey(key)) {
            usedKeys.add(name + "/" + key);
        } else if (!optional) {
            problems.add(where + ": " + field + ".key: ConfigMap " + namespace + "/" + name + " has no key " + key);
        }
    }

    private void binding(HasMetadata b, String namespace, RoleRef ref, List<Subject> subjects) {
        String where = Bundle.describe(b);
        boolean found = "ClusterRole".equals(ref.getKind()) ? bundle.find(ClusterRole.class, null, ref.getName()).isPresent()
                : namespace != null && bundle.find(Role.class, namespace, ref.getName()).isPresent();
        if (!found) {
            problems.add(where + ": roleRef: " + ref.getKind() + " " + (namespace == null || "ClusterRole".equals(ref.getKind()) ? ""
                    : namespace + "/") + ref.getName() + " is not in the bundle");
        }
        for (Subject s : subjects) {
            if ("ServiceAccount".equals(s.getKind()) && bundle.find(ServiceAccount.class, s.getNamespace(), s.getName()).isEmpty()) {
                problems.add(where + ": subjects[" + s.getName() + "]: ServiceAccount " + s.getNamespace() + "/" + s.getName()
                        + " is not in the bundle");
            }
        }
    }

    private void service(Service s) {
        Map<String, String> selector = s.getSpec().getSelector();
        if (selector == null || selector.isEmpty()) {
            return;
        }
        boolean selects = bundle.workloads().anyMatch(w -> Objects.equals(w.namespace(), s.getMetadata().getNamespace())
                && w.template().getMetadata().getLabels().entrySet().containsAll(selector.entrySet()));
        if (!selects) {
            problems.add(Bundle.describe(s) + ": spec.selector: " + selector + " selects no workload's pods");
        }
    }

    // ------------------------------------------------------------------ unknown fields

    private void knownFields(HasMetadata o) {
        if (o instanceof GenericKubernetesResource) {
            problems.add(Bundle.describe(o) + ": " + o.getApiVersion() + " " + o.getKind() + " is not a kind of the Kubernetes API model");
            return;
        }
        walk(o, Bundle.describe(o), "", new IdentityHashMap<>());
    }

    /** Every model object reachable through getters; fields Jackson did not know end up in additionalProperties. */
    private void walk(Object value, String where, String path, Map<Object, Boolean> seen) {
        if (value == null || seen.put(value, Boolean.TRUE) != null) {
            return;
        }
        if (value instanceof Collection<?> items) {
            int i = 0;
            for (Object item : items) {
                walk(item, where, path + "[" + i++ + "]", seen);
            }
            return;
        }
        if (value instanceof Map<?, ?> map) {
            map.forEach((k, v) -> walk(v, where, path + "." + k, seen));
            return;
        }
        if (!value.getClass().getName().startsWith("io.fabric8.kubernetes.api.model.")) {
            return;
        }
        for (Method m : value.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers()) || !m.getName().startsWith("get")
                    || m.getDeclaringClass() == Object.class) {
                continue;
            }
            Object child;
            try {
                child = m.invoke(value);
            } catch (ReflectiveOperationException e) {
                continue;
            }
            String field = Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4);
            if (field.equals("additionalProperties") && child instanceof Map<?, ?> extra && !extra.isEmpty()) {
                for (Object k : extra.keySet()) {
                    problems.add(where + ": " + (path.isEmpty() ? "" : path.substring(1) + ".") + k + ": unknown field");
                }
            } else if (!field.equals("additionalProperties")) {
                walk(child, where, path + "." + field, seen);
            }
        }
    }
}
