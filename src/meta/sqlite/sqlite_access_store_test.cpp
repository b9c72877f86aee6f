// Projects, groups and grants on SQLite: memberships through groups, the strongest role, grants,
// what deleting a group or project does, the dataset list's visibility filter, tenant isolation.
#include <gtest/gtest.h>

#include "common/ids.h"
#include "common/testing/temp_dir.h"
#include "meta/sqlite/sqlite_meta_store.h"

namespace quarry {
namespace {

using namespace std::chrono_literals;

constexpr UnixMillis kT0 = 1'767'225'600'000;

class SqliteAccessStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = (temp_.path() / "meta.db").string();
    meta_ = std::move(OpenSqliteMetaStore({path})).value();
    jobs_ = std::move(OpenSqliteJobStore({path})).value();
    datasets_ = std::move(OpenSqliteDatasetStore({path})).value();
    access_ = std::move(OpenSqliteAccessStore({path})).value();
    a_ = AddTenant("acme");
    b_ = AddTenant("beta");
    ann_ = AddUser(a_, "ann@acme.io");
    ben_ = AddUser(a_, "ben@acme.io");
    bob_ = AddUser(b_, "bob@beta.io");
  }

  std::string AddTenant(const std::string& slug) {
    Tenant t{NewId("ten", kT0), slug, slug, TenantStatus::kActive, kT0, kT0};
    EXPECT_TRUE(meta_->InsertTenant(t).ok());
    return t.id;
  }
  std::string AddUser(const std::string& tenant, const std::string& email) {
    User u{NewId("usr", kT0), tenant, email, Role::kAnalyst, UserStatus::kActive, kT0, kT0};
    EXPECT_TRUE(meta_->InsertUser(u).ok());
    return u.id;
  }
  std::string AddProject(const std::string& tenant, const std::string& name) {
    Project p{NewId("prj", kT0), tenant, name, "", "usr_x", kT0, kT0};
    EXPECT_TRUE(access_->InsertProject(p).ok());
    return p.id;
  }
  std::string AddGroup(const std::string& tenant, const std::string& name) {
    Group g{NewId("grp", kT0), tenant, name, kT0};
    EXPECT_TRUE(access_->InsertGroup(g).ok());
    return g.id;
  }
  // Prepares a first version of `name` in `project` (may be empty) by a running ingestion job.
  Result<PreparedVersion> Prepare(const std::string& tenant, const std::string& name, const std::string& project,
                                  std::pair<std::string, std::int64_t>* job_out) {
    NewJob job{tenant, "usr_1", "ingest"};
    job.run_after = kT0;
    EXPECT_TRUE(jobs_->Enqueue(job, 1000, 24h, kT0).ok());
    ClaimRequest claim;
    claim.worker_id = "w/1/";
    claim.kinds = {"ingest"};
    auto claimed = std::move(jobs_->Claim(claim, kT0)).value();
    EXPECT_TRUE(claimed.has_value());
    *job_out = {claimed->id, claimed->fencing_token};
    PrepareVersionRequest prepare{tenant, name, claimed->id, claimed->fencing_token};
    prepare.project_id = project;
    return datasets_->PrepareVersion(prepare, kT0);
  }
  // A published dataset of `tenant`, in `project` (may be empty).
  Dataset AddDataset(const std::string& tenant, const std::string& name, const std::string& project) {
    std::pair<std::string, std::int64_t> job;
    auto prepared = Prepare(tenant, name, project, &job);
    EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
    PublishRequest publish;
    publish.tenant_id = tenant;
    publish.dataset_id = prepared->dataset_id;
    publish.version = prepared->version;
    publish.job_id = job.first;
    publish.fencing_token = job.second;
    publish.schema_json = "[]";
    publish.stats_json = "[]";
    publish.source_json = "{}";
    EXPECT_TRUE(datasets_->PublishVersion(publish, kT0).ok());
    return std::move(datasets_->GetDataset(tenant, name)).value();
  }
  std::vector<std::string> Names(const std::string& tenant, const DatasetViewer& viewer) {
    std::vector<std::string> names;
    auto page = datasets_->ListDatasets(tenant, {}, viewer);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) return names;
    for (const Dataset& d : page->items) names.push_back(d.name);
    return names;
  }

  testing::TempDir temp_{"access_store"};
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<JobStore> jobs_;
  std::unique_ptr<DatasetStore> datasets_;
  std::unique_ptr<AccessStore> access_;
  std::string a_, b_, ann_, ben_, bob_;
};

TEST_F(SqliteAccessStoreTest, MembershipsThroughGroupsGiveTheStrongestRole) {
  const std::string project = AddProject(a_, "finance");
  const std::string group = AddGroup(a_, "auditors");
  EXPECT_FALSE(access_->ProjectRoleOf(a_, project, ann_).value().has_value());
  ASSERT_TRUE(access_->PutProjectMember(a_, {project, PrincipalKind::kUser, ann_, ProjectRole::kViewer, kT0}).ok());
  EXPECT_EQ(access_->ProjectRoleOf(a_, project, ann_).value(), ProjectRole::kViewer);
  ASSERT_TRUE(access_->PutGroupMember(a_, {group, ann_, kT0}).ok());
  ASSERT_TRUE(access_->PutGroupMember(a_, {group, ann_, kT0}).ok());  // idempotent
  ASSERT_TRUE(access_->PutProjectMember(a_, {project, PrincipalKind::kGroup, group, ProjectRole::kEditor, kT0}).ok());
  EXPECT_EQ(access_->ProjectRoleOf(a_, project, ann_).value(), ProjectRole::kEditor);
  // Re-putting a member changes its role.
  ASSERT_TRUE(access_->PutProjectMember(a_, {project, PrincipalKind::kGroup, group, ProjectRole::kAdmin, kT0}).ok());
  EXPECT_EQ(access_->ProjectRoleOf(a_, project, ann_).value(), ProjectRole::kAdmin);
  EXPECT_EQ(access_->ListProjectMembers(a_, project, {}).value().items.size(), 2u);
  EXPECT_EQ(access_->ListProjects(a_, ann_, {}).value().items.size(), 1u);
  EXPECT_TRUE(access_->ListProjects(a_, ben_, {}).value().items.empty());
  EXPECT_EQ(access_->ListProjects(a_, "", {}).value().items.size(), 1u);

  // Deleting the group takes its membership with it.
  ASSERT_TRUE(access_->DeleteGroup(a_, group).ok());
  EXPECT_EQ(access_->ProjectRoleOf(a_, project, ann_).value(), ProjectRole::kViewer);
  EXPECT_EQ(access_->DeleteProjectMember(a_, project, ann_).code(), "");
  EXPECT_FALSE(access_->ProjectRoleOf(a_, project, ann_).value().has_value());
  EXPECT_EQ(access_->DeleteProjectMember(a_, project, ann_).code(), "member_not_found");
}

TEST_F(SqliteAccessStoreTest, GrantsAndProjectsDecideTheDatasetList) {
  const std::string project = AddProject(a_, "finance");
  AddDataset(a_, "open", "");
  const Dataset ledger = AddDataset(a_, "ledger", project);
  EXPECT_EQ(ledger.project_id, project);
  EXPECT_EQ(Names(a_, {ann_, false}), std::vector<std::string>{"open"});
  EXPECT_EQ(Names(a_, {ann_, true}), (std::vector<std::string>{"ledger", "open"}));

  const std::string group = AddGroup(a_, "auditors");
  ASSERT_TRUE(access_->PutGroupMember(a_, {group, ann_, kT0}).ok());
  DatasetGrant grant{NewId("gnt", kT0), a_, ledger.id, PrincipalKind::kGroup, group, "usr_x", kT0};
  ASSERT_TRUE(access_->InsertGrant(grant).ok());
  grant.id = NewId("gnt", kT0 + 1);
  EXPECT_EQ(access_->InsertGrant(grant).code(), "grant_exists");
  EXPECT_EQ(Names(a_, {ann_, false}), (std::vector<std::string>{"ledger", "open"}));
  EXPECT_EQ(Names(a_, {ben_, false}), std::vector<std::string>{"open"});
  auto held = access_->AccessOf(a_, ledger.id, project, ann_).value();
  EXPECT_TRUE(held.granted);
  EXPECT_FALSE(held.project_role.has_value());

  ASSERT_TRUE(access_->DeleteGroupMember(a_, group, ann_).ok());
  EXPECT_FALSE(access_->AccessOf(a_, ledger.id, project, ann_).value().granted);
  EXPECT_EQ(Names(a_, {ann_, false}), std::vector<std::string>{"open"});

  // A project with a dataset stays; moved out, it goes.
  EXPECT_EQ(access_->DeleteProject(a_, project).code(), "project_not_empty");
  ASSERT_TRUE(datasets_->SetDatasetProject(a_, "ledger", "", kT0).ok());
  EXPECT_EQ(Names(a_, {ann_, false}), (std::vector<std::string>{"ledger", "open"}));
  ASSERT_TRUE(access_->DeleteProject(a_, project).ok());
  EXPECT_EQ(datasets_->SetDatasetProject(a_, "ledger", project, kT0).status().code(), "project_not_found");
}

TEST_F(SqliteAccessStoreTest, AVersionIsPreparedOnlyWhereTheUploadWasChecked) {
  const std::string project = AddProject(a_, "finance");
  std::pair<std::string, std::int64_t> first, second;
  // Another upload is creating "payroll" in the project: one checked for no project may not join it.
  ASSERT_TRUE(Prepare(a_, "payroll", project, &first).ok());
  EXPECT_EQ(Prepare(a_, "payroll", "", &second).status().code(), "project_mismatch");
  // A published dataset moved out of the project after the upload was checked: not changed.
  AddDataset(a_, "ledger", project);
  ASSERT_TRUE(datasets_->SetDatasetProject(a_, "ledger", "", kT0).ok());
  EXPECT_EQ(Prepare(a_, "ledger", project, &second).status().code(), "project_mismatch");
  EXPECT_TRUE(Prepare(a_, "ledger", "", &second).ok());
}

TEST_F(SqliteAccessStoreTest, AnotherTenantsRowsAreNotFound) {
  const std::string project = AddProject(a_, "finance");
  const std::string theirs = AddProject(b_, "finance");  // names are unique per tenant only
  const std::string group = AddGroup(a_, "auditors");
  EXPECT_EQ(access_->GetProject(b_, project).status().code(), "project_not_found");
  EXPECT_EQ(access_->PutProjectMember(a_, {project, PrincipalKind::kUser, bob_, ProjectRole::kAdmin, kT0}).code(),
            "user_not_found");
  EXPECT_EQ(access_->PutProjectMember(b_, {project, PrincipalKind::kUser, bob_, ProjectRole::kAdmin, kT0}).code(),
            "project_not_found");
  EXPECT_EQ(access_->PutProjectMember(b_, {theirs, PrincipalKind::kGroup, group, ProjectRole::kAdmin, kT0}).code(),
            "group_not_found");
  EXPECT_EQ(access_->PutGroupMember(a_, {group, bob_, kT0}).code(), "user_not_found");
  EXPECT_EQ(access_->DeleteGroup(b_, group).code(), "group_not_found");
  EXPECT_TRUE(access_->ListGroups(b_, {}).value().items.empty());
  EXPECT_EQ(access_->InsertProject({NewId("prj", kT0), a_, "finance", "", "usr_x", kT0, kT0}).code(),
            "project_name_taken");
  const Dataset ledger = AddDataset(a_, "ledger", project);
  EXPECT_EQ(access_->InsertGrant({NewId("gnt", kT0), b_, ledger.id, PrincipalKind::kUser, bob_, "usr_x", kT0}).code(),
            "dataset_not_found");
  // A dataset cannot be created in another tenant's project.
  std::pair<std::string, std::int64_t> job;
  EXPECT_EQ(Prepare(b_, "sneaky", project, &job).status().code(), "project_not_found");
}

}  // namespace
}  // namespace quarry
