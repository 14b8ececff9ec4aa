package dev.weft.bundle;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.annotation.Annotation;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The environment variables a service reads, derived from its module (so the bundle cannot set one the code ignores):
 * <ul>
 * <li>every property of its {@code @ConfigMapping} interfaces (loaded from target/classes: method names in kebab
 * case under the prefix, nested groups included), in environment form ({@code ipam.cluster-cidrs} is
 * {@code IPAM_CLUSTER_CIDRS});</li>
 * <li>every key of its application.properties that applies outside tests, and every {@code ${NAME}} expression there
 * (e.g. {@code IPAM_HTTP_HOST});</li>
 * <li>every {@code System.getenv("NAME")} in its main sources.</li>
 * </ul>
 */
final class ServiceSettings {

    private static final Pattern EXPRESSION = Pattern.compile("\\$\\{([A-Za-z0-9_.\\-]+)(?::[^}]*)?}");
    private static final Pattern GETENV = Pattern.compile("System\\.getenv\\(\"([A-Za-z0-9_]+)\"\\)");
    private static final Pattern MAPPING = Pattern.compile("@ConfigMapping\\s*\\(\\s*prefix\\s*=\\s*\"([^\"]+)\"");

    private ServiceSettings() {
    }

    static Set<String> environmentNames(Path module) {
        Set<String> names = new TreeSet<>();
        try {
            Path properties = module.resolve("src/main/resources/application.properties");
            if (Files.exists(properties)) {
                for (String line : Files.readAllLines(properties)) {
                    String l = line.strip();
                    if (l.isEmpty() || l.startsWith("#") || !l.contains("=")) {
                        continue;
                    }
                    String key = l.substring(0, l.indexOf('=')).strip();
                    if (key.startsWith("%") && !key.startsWith("%prod.")) {
                        continue;
                    }
                    names.add(env(key.startsWith("%prod.") ? key.substring("%prod.".length()) : key));
                    Matcher m = EXPRESSION.matcher(l.substring(l.indexOf('=') + 1));
                    while (m.find()) {
                        names.add(env(m.group(1)));
                    }
                }
            }
            Path sources = module.resolve("src/main/java");
            Path classes = module.resolve("target/classes");
            try (Stream<Path> files = Files.walk(sources); URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()},
                    ServiceSettings.class.getClassLoader())) {
                for (Path source : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                    String text = Files.readString(source);
                    Matcher getenv = GETENV.matcher(text);
                    while (getenv.find()) {
                        names.add(getenv.group(1));
                    }
                    Matcher mapping = MAPPING.matcher(text);
                    if (mapping.find()) {
                        String className = sources.relativize(source).toString().replace('/', '.').replaceAll("\\.java$", "");
                        if (!Files.exists(classes.resolve(className.replace('.', '/') + ".class"))) {
                            throw new IllegalStateException(module + " is not compiled: no " + className + " in " + classes);
                        }
                        mappingProperties(loader.loadClass(className), mapping.group(1), names);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException(e);
        }
        return names;
    }

    /** SmallRye's environment form of a property name: every character other than a letter or digit becomes _. */
    static String env(String property) {
        StringBuilder b = new StringBuilder();
        for (char c : property.toCharArray()) {
            b.append(Character.isLetterOrDigit(c) ? Character.toUpperCase(c) : '_');
        }
        return b.toString();
    }

    private static void mappingProperties(Class<?> type, String prefix, Set<String> into) {
        for (Method m : type.getMethods()) {
            if (m.isDefault() || Modifier.isStatic(m.getModifiers()) || m.getParameterCount() > 0) {
                continue;
            }
            String name = annotationValue(m, "io.smallrye.config.WithName");
            String property = prefix + "." + (name != null ? name : kebab(m.getName()));
            Class<?> returned = m.getReturnType();
            if (returned.isInterface() && returned.getEnclosingClass() == type && !returned.getName().startsWith("java.")) {
                mappingProperties(returned, property, into);
            } else {
                into.add(env(property));
            }
        }
    }

    private static String annotationValue(Method m, String annotation) {
        for (Annotation a : m.getAnnotations()) {
            if (a.annotationType().getName().equals(annotation)) {
                try {
                    return (String) a.annotationType().getMethod("value").invoke(a);
                } catch (ReflectiveOperationException e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        return null;
    }

    /** SmallRye's default naming: nodeMaskSizeV4 is node-mask-size-v4. */
    static String kebab(String camel) {
        StringBuilder b = new StringBuilder();
        for (char c : camel.toCharArray()) {
            if (Character.isUpperCase(c)) {
                b.append('-').append(Character.toLowerCase(c));
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }
}
