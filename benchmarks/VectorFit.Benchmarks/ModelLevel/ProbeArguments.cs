using System.Globalization;
using VectorFit.Benchmarks.Models;
using VectorFit.Transformers.Models;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>The arguments the single-process probes (<c>setup-mem</c>, <c>factor-dtype</c>) share: an option's value and the base model to adapt.</summary>
internal static class ProbeArguments
{
    /// <summary>The value after <paramref name="name"/>, or <c>null</c> when it is not given.</summary>
    public static string? Option(IReadOnlyList<string> args, string name)
    {
        for (var i = 0; i + 1 < args.Count; i++)
        {
            if (args[i] == name)
            {
                return args[i + 1];
            }
        }

        return null;
    }

    /// <summary>Checks that exactly one of <c>--layers N</c> and <c>--model DIR</c> is given.</summary>
    /// <exception cref="ArgumentException">Neither or both, naming <paramref name="verb"/> and what <c>--layers</c> builds.</exception>
    public static void RequireOneModel(IReadOnlyList<string> args, string verb, string layersMeaning)
    {
        if ((Option(args, "--layers") is null) == (Option(args, "--model") is null))
        {
            throw new ArgumentException($"{verb} needs one of --layers N ({layersMeaning}) or --model DIR (a BERT checkpoint folder).");
        }
    }

    /// <summary>A fresh base model: the BERT-base shape with <c>--layers N</c> layers, or the BERT checkpoint of <c>--model DIR</c>.</summary>
    public static nn.Module BaseModel(IReadOnlyList<string> args)
        => Option(args, "--model") is { } folder
            ? BertModel.FromPretrained(folder)
            : TrainingRun.BuildBase(new EncoderShape(int.Parse(Option(args, "--layers")!, CultureInfo.InvariantCulture)));
}
