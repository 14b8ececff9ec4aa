package dev.weft.localcluster;

import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.exceptions.MarkedYamlEngineException;
import org.snakeyaml.engine.v2.exceptions.YamlEngineException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Splits one manifest file into the objects it holds, in file order, so that none is dropped: YAML documents separated
 * by {@code ---}, JSON documents (one or several concatenated, also between {@code ---}), JSON arrays and
 * {@code kind: List} (or any {@code *List} with {@code items}). A document that cannot be read fails the whole file with
 * its index, line and first line; an object that is read but unusable is named by its index and kind/name.
 *
 * <p>We split and parse ourselves rather than with the client's {@code load()}, which reads a JSON stream as its first
 * document only and says nothing about the rest.
 */
final class ManifestDocuments {
    /** One object of a file and where it was read: {@code file: document 2 (pod/a)}. */
    record Located(HasMetadata object, String origin) {
    }

    /**
     * The raw text of one {@code ---}-separated document; {@code line} is the 1-based file line of the text's first line
     * (parser positions inside the text map back by adding it).
     */
    private record RawDocument(int index, int line, String text) {
        String firstLine() {
            return text.lines().map(String::strip).filter(RawDocument::isContent).findFirst().orElse("");
        }

        int firstLineNumber() {
            List<String> lines = text.lines().toList();
            for (int i = 0; i < lines.size(); i++) {
                if (isContent(lines.get(i).strip())) {
                    return line + i;
                }
            }
            return line;
        }

        private static boolean isContent(String stripped) {
            return !stripped.isEmpty() && !stripped.startsWith("#");
        }
    }

    private static final ObjectMapper JSON = JsonMapper.builder().enable(JsonReadFeature.ALLOW_YAML_COMMENTS).build();
    private static final int FIRST_LINE_SHOWN = 60;

    private ManifestDocuments() {
    }

    static List<Located> read(String file, String text, KubernetesSerialization serialization) {
        List<Located> objects = new ArrayList<>();
        for (RawDocument doc : split(text)) {
            List<Object> values = parse(file, doc);
            for (int i = 0; i < values.size(); i++) {
                if (values.get(i) == null) {
                    continue; // "null" or an empty YAML document
                }
                String index = doc.index() + (values.size() > 1 ? ", JSON value " + (i + 1) : "");
                collect(file, doc, index, values.get(i), objects, serialization);
            }
        }
        return objects;
    }

    /**
     * The non-empty documents of a YAML stream, numbered from 1: a line {@code ---} (optionally followed by content)
     * starts a new one. Only comments or blank lines make an empty document (as kubectl, we skip it).
     */
    private static List<RawDocument> split(String text) {
        List<RawDocument> docs = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        int start = 1;
        int lineNo = 0;
        for (String line : text.split("\r?\n", -1)) {
            lineNo++;
            if (line.equals("---") || line.startsWith("--- ") || line.startsWith("---\t")) {
                addIfNotEmpty(docs, start, current);
                current.setLength(0);
                // keep the document's lines where they are in the file, so parser line numbers map back directly
                current.append(line.substring(3)).append('\n');
                start = lineNo;
            } else if (line.equals("...")) {
                current.append('\n'); // YAML end-of-document marker: the next document starts with the next ---
            } else {
                current.append(line).append('\n');
            }
        }
        addIfNotEmpty(docs, start, current);
        return docs;
    }

    private static void addIfNotEmpty(List<RawDocument> docs, int start, StringBuilder text) {
        RawDocument doc = new RawDocument(docs.size() + 1, start, text.toString());
        if (!doc.firstLine().isEmpty()) {
            docs.add(doc);
        }
    }

    /** The values of one document: one for YAML, one or more for concatenated JSON. */
    private static List<Object> parse(String file, RawDocument doc) {
        String first = doc.firstLine();
        if (first.startsWith("{") || first.startsWith("[")) {
            List<Object> values = new ArrayList<>();
            try (JsonParser parser = JSON.createParser(doc.text())) {
                // a parser loop, not readValues(): that would unwrap a root array into its elements without saying so
                while (parser.nextToken() != null) {
                    values.add(parser.readValueAs(Object.class));
                }
                return values;
            } catch (java.io.IOException | RuntimeException e) {
                // YAML flow style ({kind: Pod, ...}) looks like JSON but is not: YAML gets the last word, and if it
                // cannot read the document either, the JSON error is the one the author wants to see.
                try {
                    return parseYaml(file, doc);
                } catch (UserError yamlError) {
                    int line = e instanceof JsonProcessingException j && j.getLocation() != null
                            ? doc.line() + j.getLocation().getLineNr() - 1 : -1;
                    throw unreadable(file, doc, line, e instanceof JsonProcessingException j ? jsonReason(doc, j)
                            : String.valueOf(e.getMessage()));
                }
            }
        }
        return parseYaml(file, doc);
    }

    private static List<Object> parseYaml(String file, RawDocument doc) {
        List<Object> values = new ArrayList<>();
        try {
            values.add(new Load(LoadSettings.builder().setLabel(file).build()).loadFromString(doc.text()));
        } catch (MarkedYamlEngineException e) {
            int line = e.getProblemMark().map(m -> doc.line() + m.getLine()).orElse(-1);
            throw unreadable(file, doc, line, e.getProblem());
        } catch (YamlEngineException e) {
            throw unreadable(file, doc, -1, e.getMessage());
        }
        return values;
    }

    @SuppressWarnings("unchecked")
    private static void collect(String file, RawDocument doc, String index, Object value, List<Located> out,
                                KubernetesSerialization serialization) {
        if (value instanceof List<?> list) {
            int item = 0;
            for (Object element : list) {
                item++;
                toObject(file, doc, index + ", item " + item, element, out, serialization);
            }
            return;
        }
        if (value instanceof Map<?, ?> map && map.get("kind") instanceof String kind && kind.endsWith("List")
                && map.containsKey("items")) {
            if (!(map.get("items") instanceof List<?> items)) {
                throw new UserError(file + ": document " + index + " (" + kind + "): items is not a list");
            }
            int item = 0;
            for (Object element : items) {
                item++;
                toObject(file, doc, index + ", item " + item, element, out, serialization);
            }
            return;
        }
        toObject(file, doc, String.valueOf(index), value, out, serialization);
    }

    private static void toObject(String file, RawDocument doc, String index, Object value, List<Located> out,
                                 KubernetesSerialization serialization) {
        String where = file + ": document " + index;
        if (!(value instanceof Map<?, ?> map)) {
            throw new UserError(where + " (line " + doc.firstLineNumber() + ": " + shorten(doc.firstLine())
                    + "): not a Kubernetes object (a mapping with apiVersion and kind is expected)");
        }
        Object kind = map.get("kind");
        Object apiVersion = map.get("apiVersion");
        String name = map.get("metadata") instanceof Map<?, ?> meta && meta.get("name") != null ? String.valueOf(meta.get("name")) : "";
        String label = (kind instanceof String k ? k.toLowerCase() : "?") + "/" + name;
        if (!(kind instanceof String k) || k.isBlank()) {
            throw new UserError(where + " (line " + doc.firstLineNumber() + ": " + shorten(doc.firstLine()) + "): no kind");
        }
        if (!(apiVersion instanceof String v) || v.isBlank()) {
            throw new UserError(where + " (" + label + "): no apiVersion");
        }
        HasMetadata object;
        try {
            object = serialization.convertValue(map, HasMetadata.class);
        } catch (RuntimeException e) {
            throw new UserError(where + " (" + label + "): not a valid " + kind + ": " + rootMessage(e));
        }
        if (object == null) {
            throw new UserError(where + " (" + label + "): not a valid " + kind);
        }
        out.add(new Located(object, where + " (" + label + ")"));
    }

    private static final java.util.regex.Pattern JSON_LOCATION =
            java.util.regex.Pattern.compile("\\[Source: [^\\]]*?; line: (\\d+), column: (\\d+)]");

    /** Jackson's message with its positions (relative to the document, with a source placeholder) made file lines. */
    private static String jsonReason(RawDocument doc, JsonProcessingException e) {
        return JSON_LOCATION.matcher(String.valueOf(e.getOriginalMessage()))
                .replaceAll(m -> "line " + (doc.line() + Integer.parseInt(m.group(1)) - 1) + ", column " + m.group(2));
    }

    private static UserError unreadable(String file, RawDocument doc, int line, String reason) {
        return new UserError(file + ": document " + doc.index() + " (line " + doc.firstLineNumber() + ": "
                + shorten(doc.firstLine()) + ") cannot be read" + (line > 0 ? " at line " + line : "") + ": " + reason);
    }

    private static String shorten(String line) {
        String s = line.length() > FIRST_LINE_SHOWN ? line.substring(0, FIRST_LINE_SHOWN) + "…" : line;
        return "`" + s + "`";
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage().lines().findFirst().orElse("");
    }
}
