package dev.weft.localcluster;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** Minimal option parsing: {@code --name value}, {@code -n value}, repeated options and positionals; unknown options are errors. */
final class Args {
    private final List<String> args;
    private final List<String> positionals = new ArrayList<>();
    private final java.util.Map<String, List<String>> options = new java.util.LinkedHashMap<>();
    private final java.util.Set<String> flags = new java.util.HashSet<>();

    Args(List<String> args, Set<String> valued, Set<String> booleanFlags) {
        this.args = args;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            String key = a;
            String inline = null;
            if (a.startsWith("--") && a.contains("=")) {
                key = a.substring(0, a.indexOf('='));
                inline = a.substring(a.indexOf('=') + 1);
            }
            if (valued.contains(key)) {
                String value = inline;
                if (value == null) {
                    if (i + 1 >= args.size()) {
                        throw new UserError("option " + key + " needs a value");
                    }
                    value = args.get(++i);
                }
                options.computeIfAbsent(key, k -> new ArrayList<>()).add(value);
            } else if (booleanFlags.contains(key)) {
                flags.add(key);
            } else if (a.startsWith("-") && a.length() > 1) {
                throw new UserError("unknown option " + a);
            } else {
                positionals.add(a);
            }
        }
    }

    Optional<String> get(String... names) {
        for (String n : names) {
            List<String> v = options.get(n);
            if (v != null && !v.isEmpty()) {
                return Optional.of(v.getLast());
            }
        }
        return Optional.empty();
    }

    String require(String what, String... names) {
        return get(names).orElseThrow(() -> new UserError("missing " + names[0] + " " + what));
    }

    List<String> all(String... names) {
        List<String> r = new ArrayList<>();
        for (String n : names) {
            r.addAll(options.getOrDefault(n, List.of()));
        }
        return r;
    }

    boolean has(String flag) {
        return flags.contains(flag);
    }

    List<String> positionals() {
        return positionals;
    }

    int intOption(String name, int dflt) {
        return get(name).map(v -> {
            try {
                return Integer.parseInt(v);
            } catch (NumberFormatException e) {
                throw new UserError(name + " must be a number, got " + v);
            }
        }).orElse(dflt);
    }

    @Override
    public String toString() {
        return String.join(" ", args);
    }
}
