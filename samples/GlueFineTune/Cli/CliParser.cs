using System.Globalization;

namespace GlueFineTune.Cli;

/// <summary>
/// Parses the command line of every verb (training, <c>import-onnx</c>) into <see cref="CliOptions"/>, with one set of
/// rules: <c>--name value</c> or <c>--name=value</c>, each option once, a value never taken from the next option.
/// </summary>
internal static class CliParser
{
    private delegate CliOptions Apply(CliOptions options, string? value);

    private sealed record Spec(string Name, string? ValueName, Apply Apply, string? Verb = null, bool Shared = false, bool Repeatable = false);

    private static readonly Spec[] Specs =
    [
        Flag("--help", o => o with { Help = true }) with { Shared = true },
        Flag("-h", o => o with { Help = true }) with { Shared = true },
        Text("--pooling", "NAME", (o, v) => o with { Pooling = v }) with { Shared = true },
        Text("--onnx", "MODEL.onnx", (o, v) => o with { Onnx = v }) with { Verb = ImportVerb },
        Text("--vocab", "vocab.txt", (o, v) => o with { Vocab = v }) with { Verb = ImportVerb },
        Text("--assembly", "FILE.dll", (o, v) => o with { Assembly = v }) with { Verb = ImportVerb },
        Text("--out", "DIR", (o, v) => o with { Out = v }) with { Verb = ImportVerb },
        Number("--num-heads", (o, v) => o with { NumHeads = Int(v, "--num-heads", 1) }) with { Verb = ImportVerb },
        Flag("--version", o => o with { Version = true }),
        Flag("--demo", o => o with { Demo = true }),
        Flag("--resume", o => o with { Resume = true }),
        Flag("--distributed", o => o with { Distributed = true }),
        Text("--task", "NAME", (o, v) => o with { Task = v }),
        Text("--data", "DIR", (o, v) => o with { Data = v }),
        Text("--model", "DIR", (o, v) => o with { Model = v }),
        Text("--output", "DIR", (o, v) => o with { Output = v }),
        Text("--variant", "NAME", (o, v) => o with { Variant = v }),
        Text("--method", "NAME", (o, v) => o with { Method = v }),
        Text("--svft-pattern", "NAME", (o, v) => o with { SvftPattern = v }),
        Text("--factor-dtype", "NAME", (o, v) => o with { FactorDType = v }),
        Text("--train", "FILE", (o, v) => o with { Train = o.Train ?? v, TrainSets = [.. o.TrainSets, v] }) with { Repeatable = true },
        Text("--dev", "FILE", (o, v) => o with { Dev = o.Dev ?? v, DevSets = [.. o.DevSets, v] }) with { Repeatable = true },
        Text("--text-column", "NAME", (o, v) => o with { TextColumn = v }),
        Text("--text-pair-column", "NAME", (o, v) => o with { TextPairColumn = v }),
        Text("--label-column", "NAME", (o, v) => o with { LabelColumn = v }),
        Flag("--regression", o => o with { Regression = true }),
        new("--avf-start-epoch", "X", (o, v) => o with { AvfStartEpoch = PositiveNumber(v, "--avf-start-epoch") }),
        new("--avf-every-epochs", "X", (o, v) => o with { AvfEveryEpochs = PositiveNumber(v, "--avf-every-epochs") }),
        Text("--lr-schedule", "NAME", (o, v) => o with { LearningRateSchedule = v }),
        Number("--epochs", (o, v) => o with { Epochs = Int(v, "--epochs", 1) }),
        Number("--batch-size", (o, v) => o with { BatchSize = Int(v, "--batch-size", 1) }),
        Number("--eval-batch-size", (o, v) => o with { EvalBatchSize = Int(v, "--eval-batch-size", 1) }),
        Number("--max-length", (o, v) => o with { MaxLength = Int(v, "--max-length", 4) }),
        Number("--seed", (o, v) => o with { Seed = Int(v, "--seed", 0) }),
        Number("--t-i", (o, v) => o with { InitialStep = Long(v, "--t-i", 1) }),
        Number("--t-f", (o, v) => o with { Interval = Long(v, "--t-f", 1) }),
        Number("--n-f", (o, v) => o with { AvfSteps = Int(v, "--n-f", 0) }),
        Number("--k", (o, v) => o with { K = Int(v, "--k", 0) }),
        Number("--threads", (o, v) => o with { Threads = Int(v, "--threads", 1) }),
        Number("--max-steps", (o, v) => o with { MaxSteps = Long(v, "--max-steps", 1) }),
        Number("--max-train-examples", (o, v) => o with { MaxTrainExamples = Int(v, "--max-train-examples", 1) }),
        new("--lr", "X", (o, v) => o with { LearningRate = PositiveDouble(v, "--lr") }),
        Text("--model", "DIR", (o, v) => o with { Model = v }) with { Verb = PredictVerb },
        Text("--adapter", "NAME=FILE", (o, v) => o with { Adapters = [.. o.Adapters, v] }) with { Verb = PredictVerb, Repeatable = true },
        Text("--input", "FILE", (o, v) => o with { Input = v }) with { Verb = PredictVerb },
        Text("--output", "FILE", (o, v) => o with { Output = v }) with { Verb = PredictVerb },
        Text("--text-column", "NAME", (o, v) => o with { TextColumn = v }) with { Verb = PredictVerb },
        Text("--text-pair-column", "NAME", (o, v) => o with { TextPairColumn = v }) with { Verb = PredictVerb },
        Text("--task-column", "NAME", (o, v) => o with { TaskColumn = v }) with { Verb = PredictVerb },
        Text("--id-column", "NAME", (o, v) => o with { IdColumn = v }) with { Verb = PredictVerb },
        Number("--batch-size", (o, v) => o with { BatchSize = Int(v, "--batch-size", 1) }) with { Verb = PredictVerb },
        Number("--max-length", (o, v) => o with { MaxLength = Int(v, "--max-length", 4) }) with { Verb = PredictVerb },
        Number("--threads", (o, v) => o with { Threads = Int(v, "--threads", 1) }) with { Verb = PredictVerb },
    ];

    /// <summary>The verb that converts an ONNX export (the first argument); without a verb the program trains.</summary>
    public const string ImportVerb = "import-onnx";

    /// <summary>The verb that predicts with several adapters on one base model, rows of different tasks batched together.</summary>
    public const string PredictVerb = "predict";

    /// <summary>The verbs, each given as the first argument.</summary>
    public static IReadOnlyList<string> Verbs { get; } = [ImportVerb, PredictVerb];

    /// <summary>The option names a verb takes.</summary>
    /// <param name="verb"><see cref="ImportVerb"/>, <see cref="PredictVerb"/>, or <c>null</c> for training.</param>
    /// <returns>The names.</returns>
    public static IEnumerable<string> OptionNames(string? verb) => Specs.Where(s => s.Shared || s.Verb == verb).Select(s => s.Name);

    /// <summary>Parses <paramref name="args"/>: an optional verb first, then its options.</summary>
    /// <param name="args">The program's arguments.</param>
    /// <returns>The options.</returns>
    /// <exception cref="UsageException">An option is unknown to the verb, repeated, lacks its value or has a malformed one.</exception>
    public static CliOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        string? verb = args.Count > 0 && Verbs.Contains(args[0]) ? args[0] : null;
        var options = new CliOptions { Verb = verb };
        var known = Specs.Where(s => s.Shared || s.Verb == verb).ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = verb is null ? 0 : 1; i < args.Count; i++)
        {
            string arg = args[i];
            string name = arg;
            string? inline = null;
            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 2)
            {
                name = arg[..equals];
                inline = arg[(equals + 1)..];
            }

            Spec spec = known.FirstOrDefault(s => s.Name == name)
                ?? throw new UsageException(UnknownMessage(arg, verb, known));
            if (!seen.Add(spec.Name == "-h" ? "--help" : spec.Name) && spec.ValueName is not null && !spec.Repeatable)
            {
                throw new UsageException($"{spec.Name} is given twice; pass it once.");
            }

            string? value = null;
            if (spec.ValueName is null)
            {
                if (inline is not null)
                {
                    throw new UsageException($"{spec.Name} is a switch and takes no value, got \"{inline}\"; write just {spec.Name}.");
                }
            }
            else if (inline is not null)
            {
                value = inline;
            }
            else if (i + 1 < args.Count && !(args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
            {
                value = args[++i];
            }
            else
            {
                throw new UsageException($"{spec.Name} needs a value: {spec.Name} {spec.ValueName}.");
            }

            if (spec.ValueName is not null && string.IsNullOrWhiteSpace(value))
            {
                throw new UsageException($"{spec.Name} needs a non-empty value: {spec.Name} {spec.ValueName}.");
            }

            options = spec.Apply(options, value);
        }

        return options;
    }

    private static string UnknownMessage(string arg, string? verb, IEnumerable<Spec> known)
    {
        string name = arg.Split('=')[0];
        string? near = known.Select(s => s.Name).OrderBy(n => Distance(n, name)).FirstOrDefault();
        string suggestion = near is not null && Distance(near, name) <= 3 ? $" Did you mean {near}?" : string.Empty;
        string where = verb is null ? string.Empty : $" for {verb}";
        return $"unknown option \"{arg}\"{where}.{suggestion}"; // Program adds how to get the help to every usage error
    }

    private static Spec Flag(string name, Func<CliOptions, CliOptions> apply) => new(name, null, (o, _) => apply(o));

    private static Spec Text(string name, string valueName, Func<CliOptions, string, CliOptions> apply) =>
        new(name, valueName, (o, v) => apply(o, v!));

    private static Spec Number(string name, Func<CliOptions, string, CliOptions> apply) => new(name, "N", (o, v) => apply(o, v!));

    private static int Int(string value, string name, int min)
    {
        if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n))
        {
            throw new UsageException($"{name} must be a whole number, got \"{value}\".");
        }

        if (n < min)
        {
            throw new UsageException($"{name} must be at least {min}, got {n}.");
        }

        return n;
    }

    private static long Long(string value, string name, long min)
    {
        if (!long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n))
        {
            throw new UsageException($"{name} must be a whole number, got \"{value}\".");
        }

        if (n < min)
        {
            throw new UsageException($"{name} must be at least {min}, got {n}.");
        }

        return n;
    }

    private static double PositiveDouble(string? value, string name)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !double.IsFinite(x))
        {
            throw new UsageException($"{name} must be a number such as 1e-3, got \"{value}\".");
        }

        if (x <= 0 || x > 1)
        {
            throw new UsageException($"{name} must be in (0, 1], got {x.ToString(CultureInfo.InvariantCulture)}; the paper uses 1e-3.");
        }

        return x;
    }

    private static double PositiveNumber(string? value, string name)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !double.IsFinite(x) || x <= 0)
        {
            throw new UsageException($"{name} must be a positive number of epochs such as 1.5, got \"{value}\".");
        }

        return x;
    }

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int previous = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int current = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), previous + (a[i - 1] == b[j - 1] ? 0 : 1));
                previous = current;
            }
        }

        return row[b.Length];
    }
}
