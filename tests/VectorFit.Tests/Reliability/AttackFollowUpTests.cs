using System.Text;
using System.Text.Json.Nodes;
using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Serialization;
using VectorFit.Tests.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Tests.Reliability;

/// <summary>
/// What an attack on the package left with a wrong or unclear answer (issue 19, item 5): each now gets the library's
/// documented exception with a message naming the file (or tensor) and the fix.
/// </summary>
[Collection("libtorch")]
public sealed class AttackFollowUpTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-attack-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void RecordWithAnUndefinedLayerRole_IsCorrupt()
    {
        var path = SaveTrained(new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });
        RewriteRecord(path, record => record["adapter"]!["layers"]![0]!["role"] = 99);

        AssertCorrupt(path, "*has a corrupt adapter record: layer 'encoder.layer.0.attention.self.query' records the role 99, which is not a LayerRole*Save the adapter again*");
    }

    [Fact]
    public void RecordWithInvalidAvfOptions_IsCorrupt()
    {
        var path = SaveTrained(new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] }, AvfPresets.Rte.AvfOptions);
        RewriteRecord(path, record =>
        {
            record["adapter"]!["avf_options"]!["initial_step"] = -5;
            record["adapter"]!["avf_options"]!["beta"] = 7;
        });

        AssertCorrupt(path, "*has a corrupt adapter record: its AVF schedule (avf_options) is invalid: InitialStep (t_i) must be at least 1*got -5*Save the adapter again*");
    }

    [Fact]
    public void RecordThatDoesNotTrainSigma_WithSigmaStillInTheFile_IsCorrupt()
    {
        var path = SaveTrained(new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });
        RewriteRecord(path, record => record["adapter"]!["layers"]![0]!["train_sigma"] = false);

        AssertCorrupt(path, "*is corrupt: it holds tensors its record does not account for (no adapted layer trains them and no module to save holds them): 'encoder.layer.0.attention.self.query.sigma'*Save the adapter again*");
    }

    [Fact]
    public void RandomPatternPositionsWithADuplicate_AreCorrupt()
    {
        var config = new VectorFitConfig { Method = new SvftMethod { Pattern = SvftPattern.Random(1, seed: 3) }, Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] };
        var path = SaveTrained(config);
        const string Layer = "encoder.layer.0.attention.self.query";
        long[] rows, cols;
        using (var reader = SafetensorsReader.Open(path))
        using (var r = reader.ReadTensor($"{Layer}.svft_rows"))
        using (var c = reader.ReadTensor($"{Layer}.svft_cols"))
        {
            rows = r.data<long>().ToArray();
            cols = c.data<long>().ToArray();
        }

        // The last entry takes the first entry's position: in range, so only a duplicate check can see it.
        AdapterFiles.RewriteTensor(path, $"{Layer}.svft_rows", t => { var copy = t.clone(); copy[-1] = torch.tensor(rows[0]); return copy; });
        AdapterFiles.RewriteTensor(path, $"{Layer}.svft_cols", t => { var copy = t.clone(); copy[-1] = torch.tensor(cols[0]); return copy; });
        using var fresh = new TinyBert(seed: 1);
        ModelSurgery.Apply(fresh, config);

        var load = () => VectorFitAdapter.Load(fresh, path);

        load.Should().Throw<AdapterFormatException>().WithMessage(
            $"*is corrupt: its SVFT entry positions contradict its recorded patterns*'{Layer}' records the position ({rows[0]}, {cols[0]}) of M twice*");
    }

    [Fact]
    public void SafetensorsHeaderWhoseShapeOverflowsAStride_IsAFormatException()
    {
        var path = Path.Combine(_folder, "strides.safetensors");
        WriteRawSafetensors(path, """{"t":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}}""");

        var load = () => SafetensorsReader.Load(path);
        var open = () => SafetensorsReader.Open(path).Dispose();

        load.Should().Throw<SafetensorsFormatException>().WithMessage($"'{path}' is not a valid safetensors file: the shape [0, 1099511627776, 1099511627776] of tensor 't' overflows*");
        open.Should().Throw<SafetensorsFormatException>();
    }

    [Fact]
    public void ADirectoryGivenAsTheAdapter_SaysSo()
    {
        using var model = new TinyBert(seed: 1);
        ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });

        var read = () => VectorFitAdapter.ReadInfo(_folder);
        var load = () => VectorFitAdapter.Load(model, _folder);
        var open = () => SafetensorsReader.Open(_folder);

        read.Should().Throw<AdapterFormatException>().WithMessage($"'{_folder}' is a directory; pass the adapter file*");
        load.Should().Throw<AdapterFormatException>().WithMessage($"'{_folder}' is a directory; pass the adapter file*");
        open.Should().Throw<ArgumentException>().WithMessage($"'{_folder}' is a directory; pass a safetensors file*").And.ParamName.Should().Be("path");
    }

    [Fact]
    public void WritingAMetaDeviceTensor_IsRefusedNamingIt()
    {
        var path = Path.Combine(_folder, "meta.safetensors");
        using var meta = torch.empty(2, 3, device: torch.META);

        var save = () => SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["encoder.weight"] = meta });

        save.Should().Throw<ArgumentException>().WithMessage("Tensor 'encoder.weight' is on the meta device: it has a shape but no values to write*Nothing was written*");
        File.Exists(path).Should().BeFalse();
    }

    private string SaveTrained(VectorFitConfig config, AvfOptions? avf = null)
    {
        using var model = new TinyBert(seed: 1);
        var report = ModelSurgery.Apply(model, config);
        using (var tokens = TinyBert.Tokens(6))
        {
            Surgery.SvftSurgeryTests.TrainOneStep(model, tokens);
        }

        var path = Path.Combine(_folder, $"adapter-{Guid.NewGuid():N}.safetensors");
        VectorFitAdapter.Save(model, report, path, avf);
        return path;
    }

    private static void AssertCorrupt(string path, string message)
    {
        using var fresh = new TinyBert(seed: 1);
        ModelSurgery.Apply(fresh, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });

        var read = () => VectorFitAdapter.ReadInfo(path);
        var load = () => VectorFitAdapter.Load(fresh, path);

        read.Should().Throw<AdapterFormatException>().WithMessage(message);
        load.Should().Throw<AdapterFormatException>().WithMessage(message);
    }

    private static void WriteRawSafetensors(string path, string header)
    {
        var bytes = Encoding.UTF8.GetBytes(header);
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((ulong)bytes.Length));
        stream.Write(bytes);
    }

    /// <summary>Edits the JSON record and re-records its checksum: a well-formed file whose record says something wrong.</summary>
    private static void RewriteRecord(string path, Action<JsonNode> change)
    {
        Dictionary<string, string> metadata;
        using (var reader = SafetensorsReader.Open(path))
        {
            metadata = reader.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        }

        var record = JsonNode.Parse(metadata["vectorfit"])!;
        change(record);
        metadata["vectorfit"] = record.ToJsonString();
        metadata["vectorfit_sha256"] = AdapterDocument.Checksum(metadata["vectorfit"]);
        var tensors = SafetensorsReader.Load(path);
        SafetensorsWriter.Save(path, tensors, metadata);
        foreach (var t in tensors.Values)
        {
            t.Dispose();
        }
    }
}
