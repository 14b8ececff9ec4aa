package dev.weft.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Renders rows as an aligned table (kubectl style), JSON or YAML. */
final class Output {

    enum Format {
        TABLE, JSON, YAML;

        static Format parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown output format '" + s + "' (table, json or yaml)");
            }
        }
    }

    private Output() {
    }

    /** A table with these columns; every row is a map column -> value (JSON/YAML use the objects as given). */
    static String table(List<String> columns, List<Map<String, Object>> rows) {
        int[] widths = new int[columns.size()];
        List<List<String>> cells = new ArrayList<>();
        for (int i = 0; i < columns.size(); i++) {
            widths[i] = columns.get(i).length();
        }
        for (Map<String, Object> r : rows) {
            List<String> line = new ArrayList<>();
            for (int i = 0; i < columns.size(); i++) {
                Object v = r.get(columns.get(i));
                String s = v == null ? "" : v instanceof List<?> l ? String.join(",", l.stream().map(String::valueOf).toList()) : v.toString();
                line.add(s);
                widths[i] = Math.max(widths[i], s.length());
            }
            cells.add(line);
        }
        StringBuilder sb = new StringBuilder();
        appendLine(sb, columns, widths);
        for (List<String> line : cells) {
            appendLine(sb, line, widths);
        }
        return sb.toString();
    }

    private static void appendLine(StringBuilder sb, List<String> cells, int[] widths) {
        StringBuilder line = new StringBuilder();
        for (int i = 0; i < cells.size(); i++) {
            line.append(cells.get(i));
            if (i < cells.size() - 1) {
                line.append(" ".repeat(widths[i] - cells.get(i).length() + 1));
            }
        }
        sb.append(line.toString().stripTrailing()).append('\n');
    }

    static String structured(Format f, Object value) {
        try {
            ObjectMapper m = f == Format.YAML
                    ? new ObjectMapper(new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER))
                    : new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            String s = m.writeValueAsString(value);
            return s.endsWith("\n") ? s : s + "\n";
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static Map<String, Object> row(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }
}
