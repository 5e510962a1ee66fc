using System.Globalization;
using VectorFit.Serialization;
using VectorFit.Transformers.Tests.TestSupport;
using static TorchSharp.torch;

namespace VectorFit.Distributed.Tests;

/// <summary>Helpers of eng/mpi-tests.sh's check of the GLUE sample under <c>--distributed</c> (no MPI here).</summary>
internal static class SampleRun
{
    /// <summary>
    /// <c>sample-data DIR</c>: DIR/model (TinyCheckpoint's 2-layer BERT, hidden 16, dropout 0, so that a run's steps do not
    /// depend on how its batches are split) and DIR/train.csv, DIR/dev.csv (sentences of its ten words, labelled by sentiment).
    /// </summary>
    public static int WriteData(string folder)
    {
        using (var model = TinyCheckpoint.Model(TinyCheckpoint.Bert()))
        {
            TinyCheckpoint.Write(Path.Combine(folder, "model"), model);
        }

        var random = new Random(3);
        string[] nouns = ["movie", "film"], good = ["good", "great"], bad = ["bad", "awful"];
        string Rows(int count) => string.Concat(Enumerable.Range(0, count).Select(_ =>
        {
            bool positive = random.Next(2) == 0;
            string word = positive ? good[random.Next(2)] : bad[random.Next(2)];
            string text = random.Next(2) == 0 ? $"the {nouns[random.Next(2)]} was {word} ." : $"a {word} {nouns[random.Next(2)]} .";
            return $"{text},{(positive ? "pos" : "neg")}\n";
        }));
        File.WriteAllText(Path.Combine(folder, "train.csv"), "text,label\n" + Rows(45));
        File.WriteAllText(Path.Combine(folder, "dev.csv"), "text,label\n" + Rows(13));
        return 0;
    }

    /// <summary>
    /// <c>compare-adapters A B TOLERANCE [SUFFIX]</c>: the largest |difference| between the tensors of two adapter files (which must
    /// hold the same names and shapes), the worst tensors listed; exit 0 when it is at most TOLERANCE. Tensors whose names end with
    /// SUFFIX are reported but not held to the tolerance.
    /// </summary>
    public static int CompareAdapters(string first, string second, string tolerance, string? excluded = null)
    {
        using var scope = NewDisposeScope();
        var a = SafetensorsReader.Load(first);
        var b = SafetensorsReader.Load(second);
        if (!a.Keys.Order().SequenceEqual(b.Keys.Order()))
        {
            Console.WriteLine($"FAIL the adapters hold different tensors: {string.Join(", ", a.Keys.Except(b.Keys).Concat(b.Keys.Except(a.Keys)))}");
            return 1;
        }

        var differences = a.Keys.Select(k => (name: k, max: a[k].to_type(ScalarType.Float64).sub(b[k].to_type(ScalarType.Float64)).abs().max().item<double>()))
            .OrderByDescending(d => d.max).ToList();
        double limit = double.Parse(tolerance, CultureInfo.InvariantCulture);
        if (excluded is not null)
        {
            var left = differences.Where(d => d.name.EndsWith(excluded, StringComparison.Ordinal)).ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"not held to the tolerance: {left.Count} tensors *{excluded}, max |difference| {left.Select(d => d.max).DefaultIfEmpty().Max():G3}"));
            differences = differences.Except(left).ToList();
        }

        double worst = differences[0].max;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"max |difference| {worst:G3} over {differences.Count} tensors; worst: ")
            + string.Join(", ", differences.Take(3).Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.name} {d.max:G3}"))));
        return worst <= limit ? 0 : 1;
    }
}
