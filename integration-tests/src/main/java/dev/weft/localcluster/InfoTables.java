package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceColumnDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code get weftagentinfos|weftcontrollerinfos}: the info objects as {@code kubectl get} prints them, with the
 * additionalPrinterColumns of their CRDs in the bundle (the local API server keeps no CRDs, so the columns are read
 * from the file the cluster would install).
 */
final class InfoTables {

    /** The kinds this verb knows, by every name kubectl accepts for them. */
    static final Map<String, String> PLURALS = Map.of(
            "weftagentinfos", "weftagentinfos", "weftagentinfo", "weftagentinfos", "wai", "weftagentinfos",
            "weftcontrollerinfos", "weftcontrollerinfos", "weftcontrollerinfo", "weftcontrollerinfos", "wci", "weftcontrollerinfos");

    private static final Pattern FILTER = Pattern.compile("^([A-Za-z0-9_]+)\\[\\?\\(@\\.([A-Za-z0-9_]+)==['\"]([^'\"]*)['\"]\\)\\]$");

    private InfoTables() {
    }

    static ResourceDefinitionContext context(String plural) {
        String kind = plural.equals("weftagentinfos") ? "WeftAgentInfo" : "WeftControllerInfo";
        return new ResourceDefinitionContext.Builder().withGroup("weft.dev").withVersion("v1alpha1").withKind(kind)
                .withPlural(plural).withNamespaced(false).build();
    }

    /** The printer columns of {@code <plural>.weft.dev} in the bundle. */
    static List<CustomResourceColumnDefinition> columns(Path bundle, String plural) {
        String text;
        try {
            text = Files.readString(bundle);
        } catch (IOException e) {
            throw new UserError("cannot read the bundle " + bundle + ": " + e.getMessage());
        }
        for (String doc : text.split("(?m)^---\\s*$")) {
            if (!doc.contains("kind: CustomResourceDefinition") || !doc.contains(plural + ".weft.dev")) {
                continue;
            }
            CustomResourceDefinition crd = Serialization.unmarshal(doc, CustomResourceDefinition.class);
            return crd.getSpec().getVersions().getFirst().getAdditionalPrinterColumns();
        }
        throw new UserError("the bundle " + bundle + " has no CustomResourceDefinition " + plural + ".weft.dev");
    }

    static String render(List<CustomResourceColumnDefinition> columns, List<GenericKubernetesResource> items, boolean wide) {
        List<CustomResourceColumnDefinition> shown = columns.stream()
                .filter(c -> wide || c.getPriority() == null || c.getPriority() == 0).toList();
        List<String> header = new ArrayList<>(List.of("NAME"));
        shown.forEach(c -> header.add(c.getName().toUpperCase(java.util.Locale.ROOT)));
        List<List<String>> rows = new ArrayList<>();
        for (GenericKubernetesResource o : items) {
            Map<String, Object> tree = Serialization.jsonMapper().convertValue(o, Map.class);
            List<String> row = new ArrayList<>(List.of(o.getMetadata().getName()));
            for (CustomResourceColumnDefinition c : shown) {
                Object v = evaluate(tree, c.getJsonPath());
                String cell = v == null ? "<none>" : "date".equals(c.getType()) ? Verbs.age(v.toString()) : text(v);
                row.add(cell);
            }
            rows.add(row);
        }
        return Tables.format(header, rows);
    }

    private static String text(Object v) {
        if (v instanceof List<?> l) {
            return l.isEmpty() ? "<none>" : String.join(",", l.stream().map(InfoTables::text).toList());
        }
        return v.toString();
    }

    /**
     * The subset of JSONPath the bundle's columns use: {@code .a.b} and {@code .list[?(@.key=='value')].field}
     * (a list of matches, as kubectl prints them).
     */
    static Object evaluate(Object root, String path) {
        List<Object> current = List.of(root);
        boolean many = false;
        for (String step : steps(path)) {
            List<Object> next = new ArrayList<>();
            Matcher m = FILTER.matcher(step);
            for (Object node : current) {
                if (!(node instanceof Map<?, ?> map)) {
                    continue;
                }
                if (m.matches()) {
                    many = true;
                    if (map.get(m.group(1)) instanceof List<?> list) {
                        for (Object e : list) {
                            if (e instanceof Map<?, ?> em && m.group(3).equals(String.valueOf(em.get(m.group(2))))) {
                                next.add(e);
                            }
                        }
                    }
                } else if (map.containsKey(step)) {
                    next.add(map.get(step));
                }
            }
            current = next;
        }
        if (current.isEmpty()) {
            return null;
        }
        return many ? current : current.getFirst();
    }

    /** The steps of a path, split at the dots outside brackets (a filter has a dot of its own: {@code @.type}). */
    static List<String> steps(String path) {
        List<String> steps = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        int depth = 0;
        for (char ch : path.replaceFirst("^\\.", "").toCharArray()) {
            if (ch == '[') {
                depth++;
            } else if (ch == ']') {
                depth--;
            }
            if (ch == '.' && depth == 0) {
                steps.add(cur.toString());
                cur.setLength(0);
            } else {
                cur.append(ch);
            }
        }
        steps.add(cur.toString());
        return steps;
    }
}
