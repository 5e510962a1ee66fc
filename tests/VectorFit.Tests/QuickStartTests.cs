using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Tests;

/// <summary>
/// Compiles and runs the README's code on the BERT-shaped model, so the README stays real API. The lines between each
/// <c>// ---- snippet: NAME ----</c> marker and <c>// ---- end of snippet ----</c> are the README block marked
/// <c>&lt;!-- snippet: NAME --&gt;</c>, line for line but for its <c>using</c> lines and the substitutions in <see cref="ReadmeToTest"/>.
/// The quick start runs on the real all-MiniLM-L6-v2 in <c>tests/VectorFit.Transformers.Tests/QuickStartTests.cs</c>;
/// <see cref="ReadmeSnippets_AreTheCodeTheseTestsRun"/> reads the snippets of both files and fails when one drifts from the README.
/// </summary>
[Collection("libtorch")]
public sealed class QuickStartTests
{
    /// <summary>README text → test text: the tests write the adapter to a temporary file.</summary>
    private static readonly (string Readme, string Test)[] ReadmeToTest =
    [
        ("\"sentiment.safetensors\"", "path"),
    ];

    /// <summary>The test files that hold README snippets, relative to the repository root.</summary>
    private static readonly string[] SnippetFiles =
    [
        Path.Combine("tests", "VectorFit.Tests", "QuickStartTests.cs"),
        Path.Combine("tests", "VectorFit.Transformers.Tests", "QuickStartTests.cs"),
    ];

    [Fact]
    public void Targeting_ConfigsAdaptTheLayersTheReadmeSays()
    {
        // ---- snippet: targeting ----
        var allLinear = new VectorFitConfig { TargetAllLinear = true, ModulesToSave = ["classifier"] };  // PEFT: target_modules="all-linear"
        var bySuffix = new VectorFitConfig { TargetSuffixes = ["query", "value"], ModulesToSave = ["classifier"] };  // PEFT: ["query", "value"]
        var byPattern = new VectorFitConfig { TargetPatterns = [@"encoder\.layer\.\d+\.attention\.self\.(query|value)"] };  // PEFT: a regex string
        // ---- end of snippet ----

        AdaptedNames(allLinear).Should().HaveCount(6 * TinyBert.Layers).And.NotContain("classifier");
        var queryValue = Enumerable.Range(0, TinyBert.Layers).SelectMany(i => new[] { $"encoder.layer.{i}.attention.self.query", $"encoder.layer.{i}.attention.self.value" });
        AdaptedNames(bySuffix).Should().BeEquivalentTo(queryValue);
        AdaptedNames(byPattern).Should().BeEquivalentTo(queryValue);
    }

    [Fact]
    public void AvfPreset_OnAShortRun_SaysOnceThatItDoesNotFit()
    {
        using var model = new TinyBert(seed: 1);
        ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert });
        var stepsPerEpoch = 1;
        var original = Console.Error;
        using var error = new StringWriter();
        Console.SetError(error);
        try
        {
            // ---- snippet: avf-preset ----
            var rte = AvfPresets.Rte;  // the paper's RTE run: 50 epochs, batch 32, lr 1e-3, AVF steps 800 + 70·j, j < 27
            var paperAvf = AvfScheduler.FromModel(model, rte.AvfOptions, totalSteps: stepsPerEpoch * rte.Epochs);  // on a shorter run, ScheduleWarning: "the AVF schedule does not fit this run: …"
            // ---- end of snippet ----
            paperAvf.ScheduleWarning.Should().StartWith("the AVF schedule does not fit this run: its first AVF step is step 800 (InitialStep, t_i) but the run has 50 steps");
        }
        finally
        {
            Console.SetError(original);
        }

        error.ToString().Should().BeEmpty("the library leaves printing the warning to the application");
    }

    [Fact]
    public void ManyAdapters_OneBase_RoutesEachRowToItsAdapter()
    {
        var paths = new Adapters.AdapterBankTests();
        var rtePath = paths.SaveAdapter(11);
        var sst2Path = paths.SaveAdapter(12);
        var folder = Directory.CreateTempSubdirectory("vf-many-adapters-").FullName;
        var bothPath = Path.Combine(folder, "both.safetensors");
        using var model = Adapters.AdapterBankTests.Adapted(out var report);
        using var batch = TinyBert.Tokens(3, batch: 4);
        Tensor logits;

        // ---- snippet: many-adapters ----
        // model: the base model right after ModelSurgery.Apply (report), with the config the adapters were trained with
        using var bank = AdapterBank.Create(model, report);  // row 0 is the base model
        bank.Load("rte", rtePath);  // checked as VectorFitAdapter.Load checks it: same base, same surgery, same heads
        bank.Load("sst2", sst2Path);
        bank.Activate("sst2");  // a swap: copies σ, b and the head into the model (no SVD, no new tensor)
        using (bank.Route(["rte", "sst2", "base", "rte"]))  // one adapter per row of the batch
        {
            logits = model.forward(batch);  // one pass: each row with its adapter's σ, b and head
        }

        bank.Combine("both", [("rte", 0.5), ("sst2", 0.5)]);  // σ-space algebra; also Ties, Dare, Prune
        bank.Save("both", bothPath);  // an ordinary adapter file
        // ---- end of snippet ----

        logits.shape.Should().Equal(4, TinyBert.Classes);
        logits.Dispose();
        VectorFitAdapter.ReadInfo(bothPath).ModulesToSave.Should().Equal("classifier");
        paths.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void RoutedMultiTaskTraining_WithAvfPerAdapter_RunsAsTheReadmeSays()
    {
        var folder = Directory.CreateTempSubdirectory("vf-routed-avf-").FullName;
        var rtePath = Path.Combine(folder, "rte.safetensors");
        using var model = Adapters.AdapterBankTests.Adapted(out var report);
        using var bank = AdapterBank.Create(model, report);
        const int stepsPerEpoch = 2;
        const int epochs = 6;
        var batches = Enumerable.Range(0, stepsPerEpoch * epochs).Select(t =>
        {
            torch.manual_seed(t);
            var rows = t % 3 == 2 ? new[] { "sst2", "sst2", "sst2" } : new[] { "rte", "sst2", "rte" };
            return (TinyBert.Tokens(t, batch: 3), torch.randint(0, TinyBert.Classes, new long[] { 3 }, dtype: ScalarType.Int64), rows);
        }).ToList();

        // ---- snippet: routed-avf ----
        bank.Add("rte");  // new adapters equal to the base, trained together in mixed batches
        bank.Add("sst2");
        string[] tasks = ["rte", "sst2"];
        var optimizer = new VectorFit.Optim.AdamW(tasks.SelectMany(bank.GetTrainableParameters), lr: 1e-2);
        var avf = tasks.ToDictionary(t => t, t => bank.CreateAvfScheduler(t, AvfOptions.FromEpochs(stepsPerEpoch, epochs, k: 2)));  // per task: its own batches
        foreach (var (batch, labels, rows) in batches)  // rows: each row's task
        {
            bank.ClearGradients();  // null gradients: an adapter with no row in this batch does not move
            using (var scope = torch.NewDisposeScope())
            using (bank.Route(rows))
            {
                var logits = model.forward(batch);
                var perTask = rows.Distinct().Select(t =>
                {
                    var mine = torch.tensor(Enumerable.Range(0, rows.Length).Where(i => rows[i] == t).Select(i => (long)i).ToArray());
                    return nn.functional.cross_entropy(logits.index_select(0, mine), labels.index_select(0, mine));
                });
                torch.stack(perTask.ToArray()).sum().backward();  // Σ over tasks of each one's mean loss
            }

            optimizer.step();
            foreach (var task in rows.Distinct())
            {
                avf[task].step();  // each adapter counts its own steps: the batches that hold its rows
            }
        }

        var saved = bank.Save("rte", rtePath, avf["rte"]);  // records its AVF steps, as VectorFitAdapter.Save(model, report, path, avf)
        // ---- end of snippet ----

        avf["sst2"].StepCount.Should().Be(12);
        avf["rte"].StepCount.Should().Be(8);
        saved.Info.AvfStepsTaken.Should().Be(avf["rte"].AvfStepsTaken).And.BeGreaterThan(0);
        avf["rte"].FrozenSet.Should().HaveCount(2);
        foreach (var (batch, labels, _) in batches)
        {
            batch.Dispose();
            labels.Dispose();
        }

        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public void ReadmeSnippets_AreTheCodeTheseTestsRun()
    {
        var root = RepositoryRoot();
        var readme = ReadmeSnippets(File.ReadAllLines(Path.Combine(root, "README.md")));
        var tests = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var file in SnippetFiles)
        {
            foreach (var (name, lines) in TestSnippets(File.ReadAllLines(Path.Combine(root, file))))
            {
                tests.TryAdd(name, lines).Should().BeTrue($"snippet '{name}' is run in one test file only, found again in {file}");
            }
        }

        readme.Keys.Should().BeEquivalentTo(tests.Keys, "every README snippet has a test and every test snippet is in the README");
        readme.Keys.Should().Contain(["quick-start", "targeting", "avf-preset"]);
        foreach (var (name, lines) in readme)
        {
            var expected = lines.Select(l => ReadmeToTest.Aggregate(l, (text, s) => text.Replace(s.Readme, s.Test, StringComparison.Ordinal))).ToList();
            tests[name].Should().Equal(expected, $"README snippet '{name}' must be the code a QuickStartTests runs ({string.Join(" or ", SnippetFiles)})");
        }
    }

    private static List<string> AdaptedNames(VectorFitConfig config)
    {
        using var model = new TinyBert(seed: 1);
        return ModelSurgery.Apply(model, config).Layers.Select(l => l.Name).ToList();
    }

    /// <summary>Each ```csharp block after a <c>&lt;!-- snippet: NAME --&gt;</c> line, without its leading using lines and blank lines.</summary>
    private static Dictionary<string, List<string>> ReadmeSnippets(string[] lines)
    {
        var snippets = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 0; i < lines.Length; i++)
        {
            const string Marker = "<!-- snippet: ";
            if (!lines[i].StartsWith(Marker, StringComparison.Ordinal))
            {
                continue;
            }

            var name = lines[i][Marker.Length..].Replace("-->", string.Empty, StringComparison.Ordinal).Trim();
            lines[i + 1].Should().Be("```csharp", $"the snippet marker '{name}' is followed by a C# block");
            var body = lines.Skip(i + 2).TakeWhile(l => l != "```").Select(l => l.TrimEnd())
                .SkipWhile(l => l.Length == 0 || l.StartsWith("using ", StringComparison.Ordinal)).ToList();
            snippets.Add(name, body);
        }

        return snippets;
    }

    /// <summary>The dedented lines between each snippet marker of this file and the end marker.</summary>
    private static Dictionary<string, List<string>> TestSnippets(string[] lines)
    {
        var snippets = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        for (var i = 0; i < lines.Length; i++)
        {
            const string Marker = "// ---- snippet: ";
            var trimmed = lines[i].TrimStart();
            if (!trimmed.StartsWith(Marker, StringComparison.Ordinal))
            {
                continue;
            }

            var name = trimmed[Marker.Length..].Replace("----", string.Empty, StringComparison.Ordinal).Trim();
            var body = lines.Skip(i + 1).TakeWhile(l => !l.Contains("// ---- end of snippet ----", StringComparison.Ordinal)).ToList();
            var indent = lines[i].Length - lines[i].TrimStart().Length;
            snippets.Add(name, body.Select(l => (l.Length >= indent ? l[indent..] : l.TrimStart()).TrimEnd()).ToList());
        }

        return snippets;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "VectorFit.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("VectorFit.sln not found above " + AppContext.BaseDirectory);
    }
}
