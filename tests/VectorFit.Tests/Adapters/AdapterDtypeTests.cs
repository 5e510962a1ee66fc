using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests.Adapters;

/// <summary>
/// Adapters across floating dtypes: train in bf16 and serve in fp32 (or the reverse) is the same base model, so the adapter
/// loads with a cast; a different base still fails in every dtype. A loaded tensor is compared with the trained one cast to the
/// model's dtype, exactly (fp32 holds every bf16 value, and rounding to bf16 is what model.to(BFloat16) does too); the check can
/// fail because the fresh model's trained tensors differ from the adapter's before loading.
/// </summary>
[Collection("libtorch")]
public sealed class AdapterDtypeTests : IDisposable
{
    private static readonly VectorFitConfig BertConfig = new() { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } };
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-adapter-dtype-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void AdapterTrainedAfterModelToHalf_LoadsIntoTheFloat32BaseItCameFrom(ScalarType trainingType)
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var report = ModelSurgery.Apply(model, BertConfig);
        model.to(trainingType);
        var path = TrainAndSave(model, report);
        var trained = TrainedTensors(model);

        using var fresh = new TinyBert(seed: 1, ScalarType.Float32);
        ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
        AssertLoadsWithACast(fresh, path, trained, ScalarType.Float32);
    }

    [Fact]
    public void AdapterTrainedInFloat32_LoadsIntoABFloat16CopyOfTheBase()
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var report = ModelSurgery.Apply(model, BertConfig);
        var path = TrainAndSave(model, report);
        var trained = TrainedTensors(model);

        using var fresh = new TinyBert(seed: 1, ScalarType.Float32);
        ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
        fresh.to(ScalarType.BFloat16);
        AssertLoadsWithACast(fresh, path, trained, ScalarType.BFloat16);
    }

    [Fact]
    public void AdapterTrainedInBFloat16_FromABaseCastBeforeSurgery_LoadsIntoTheFloat32Base()
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        model.to(ScalarType.BFloat16);
        var report = ModelSurgery.Apply(model, BertConfig);
        var path = TrainAndSave(model, report);
        var trained = TrainedTensors(model);

        using var fresh = new TinyBert(seed: 1, ScalarType.Float32);
        ModelSurgery.Apply(fresh, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
        AssertLoadsWithACast(fresh, path, trained, ScalarType.Float32);
    }

    [Fact]
    public void AdapterTrainedInBFloat16_IsRejectedByAnotherFloat32Base()
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var report = ModelSurgery.Apply(model, BertConfig);
        model.to(ScalarType.BFloat16);
        var path = TrainAndSave(model, report);

        using var other = new TinyBert(seed: 2, ScalarType.Float32);
        ModelSurgery.Apply(other, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
        AssertRejected(other, path);
    }

    [Fact]
    public void AdapterTrainedInBFloat16_IsRejectedByTheFloat32BaseWithOneWeightEdited()
    {
        using var model = new TinyBert(seed: 1, ScalarType.Float32);
        var report = ModelSurgery.Apply(model, BertConfig);
        model.to(ScalarType.BFloat16);
        var path = TrainAndSave(model, report);

        using var edited = new TinyBert(seed: 1, ScalarType.Float32);
        using (torch.no_grad())
        {
            var weight = edited.named_parameters().Single(p => p.name == "embeddings.word_embeddings.weight").parameter;
            using var noise = Seeded(99, weight.dtype, weight.shape);
            using var scale = 0.05.ToScalar();
            weight.add_(noise, scale);
        }

        ModelSurgery.Apply(edited, VectorFitAdapter.ReadInfo(path).ToSurgeryConfig());
        AssertRejected(edited, path, "*embeddings.word_embeddings.weight' holds different values (its SHA-256 differs, compared as BFloat16*");
    }

    private static Dictionary<string, Tensor> TrainedTensors(nn.Module model)
        => model.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter.detach().clone());

    private static void AssertLoadsWithACast(nn.Module fresh, string path, Dictionary<string, Tensor> trained, ScalarType modelType)
    {
        try
        {
            var state = fresh.state_dict();
            foreach (var (key, value) in trained)
            {
                using var expected = value.to(modelType);
                MaxAbsDiff(state[key], expected).Should().BeGreaterThan(0, $"'{key}' must differ before loading, or the check could not fail");
            }

            VectorFitAdapter.Load(fresh, path);

            state = fresh.state_dict();
            foreach (var (key, value) in trained)
            {
                state[key].dtype.Should().Be(modelType, "the model keeps its dtype");
                using var expected = value.to(modelType);
                MaxAbsDiff(state[key], expected).Should().Be(0, $"'{key}' is the trained value cast to {modelType}");
            }
        }
        finally
        {
            foreach (var t in trained.Values)
            {
                t.Dispose();
            }
        }
    }

    private static void AssertRejected(nn.Module model, string path, string message = "*the model is not the base model the adapter was trained on*")
    {
        var act = () => VectorFitAdapter.Load(model, path);
        act.Should().Throw<AdapterMismatchException>().WithMessage(message);
    }

    private string TrainAndSave(nn.Module model, SurgeryReport report)
    {
        // "Training": every trainable tensor moves by a seeded step, far more than one bf16 rounding.
        using (torch.no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters().Where(p => p.parameter.requires_grad))
            {
                using var noise = Seeded(name.Length, parameter.dtype, parameter.shape);
                using var scale = 0.1.ToScalar();
                parameter.add_(noise, scale);
            }
        }

        var path = Path.Combine(_folder, $"adapter-{Guid.NewGuid():N}.safetensors");
        VectorFitAdapter.Save(model, report, path);
        return path;
    }
}
